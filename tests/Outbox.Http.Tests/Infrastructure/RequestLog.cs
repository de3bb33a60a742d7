using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Outbox.Http.Tests.Infrastructure;

/// <summary>Every POST a receiver got: its content type and body length, recorded by a middleware in front of the inbox.</summary>
public sealed class RequestLog
{
    private readonly ConcurrentQueue<(string? ContentType, long Length)> _requests = new();

    public IReadOnlyList<(string? ContentType, long Length)> Requests => _requests.ToArray();

    /// <summary>The requests that carried several messages.</summary>
    public IReadOnlyList<(string? ContentType, long Length)> Batches => Requests.Where(r => HttpBatchFormat.IsBatch(r.ContentType)).ToArray();

    /// <summary>The requests that carried one message in the single format.</summary>
    public IReadOnlyList<(string? ContentType, long Length)> Singles => Requests.Where(r => !HttpBatchFormat.IsBatch(r.ContentType)).ToArray();

    /// <summary>Forgets the requests so far (a warm-up's).</summary>
    public void Clear() => _requests.Clear();

    public void Attach(WebApplication app) => app.Use(async (http, next) =>
    {
        http.Request.EnableBuffering();
        var length = http.Request.ContentLength ?? await LengthAsync(http.Request);
        _requests.Enqueue((http.Request.ContentType, length));
        await next(http);
    });

    private static async Task<long> LengthAsync(HttpRequest request)
    {
        var buffer = new byte[16 * 1024];
        long length = 0;
        int n;
        while ((n = await request.Body.ReadAsync(buffer)) > 0)
        {
            length += n;
        }

        request.Body.Position = 0;
        return length;
    }
}
