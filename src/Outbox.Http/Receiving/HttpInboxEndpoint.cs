using System.Buffers;
using System.Globalization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Outbox.Http;

/// <summary>Marks a consumer that receives over HTTP (registered keyed by the consumer name by <c>UseHttp()</c>).</summary>
internal sealed class HttpInboxRegistration;

/// <summary>
/// Handles one POST for one consumer: reads the body (up to <see cref="HttpInboxOptions.MaxRequestBodySize"/>, else
/// 413), builds an <see cref="IncomingMessage"/> from the headers and runs it through <see cref="IInboxReceiver"/>.
/// Answers 200 once the inbox has an outcome (processed, duplicate, dead-lettered) and 503 with <c>Retry-After</c>
/// when it has none (the store is down, the host is stopping): the sender keeps the message and tries again.
/// </summary>
internal sealed class HttpInboxEndpoint(
    IServiceProviderIsKeyedService keyed,
    IInboxReceiver receiver,
    IOptionsMonitor<HttpInboxOptions> options,
    IHostApplicationLifetime lifetime,
    ILogger<HttpInboxEndpoint> logger)
{
    public bool Serves(string consumer) => keyed.IsKeyedService(typeof(HttpInboxRegistration), consumer);

    public async Task HandleAsync(HttpContext http, string? consumer)
    {
        if (string.IsNullOrEmpty(consumer) || !Serves(consumer))
        {
            HttpLog.UnknownConsumer(logger, consumer ?? "");
            await WriteTextAsync(http, StatusCodes.Status404NotFound, $"No consumer '{consumer}' receives over HTTP here.").ConfigureAwait(false);
            return;
        }

        var settings = options.Get(consumer);
        var limit = settings.MaxRequestBodySize;
        if (http.Request.ContentLength > limit)
        {
            await TooLargeAsync(http, consumer, limit).ConfigureAwait(false);
            return;
        }

        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } sizeFeature)
        {
            sizeFeature.MaxRequestBodySize = limit;
        }

        byte[]? body;
        try
        {
            body = await ReadBodyAsync(http.Request.Body, limit, http.RequestAborted).ConfigureAwait(false);
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            body = null;
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            return; // the sender is gone; it tries again
        }

        if (body is null)
        {
            await TooLargeAsync(http, consumer, limit).ConfigureAwait(false);
            return;
        }

        var message = HttpMessageMapper.ToIncoming(http.Request, body);
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted, lifetime.ApplicationStopping);
        ReceiveDisposition disposition;
        try
        {
            disposition = await receiver.ReceiveAsync(consumer, message, cancel.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            HttpLog.Cancelled(logger, consumer, message.MessageId);
            await UnavailableAsync(http, settings, "The consumer is stopping.").ConfigureAwait(false);
            return;
        }
        catch (Exception ex)
        {
            HttpLog.ReceiveFailed(logger, ex, consumer, message.MessageId);
            await UnavailableAsync(http, settings, "The message could not be processed now.").ConfigureAwait(false);
            return;
        }

        if (disposition == ReceiveDisposition.Acknowledge)
        {
            http.Response.StatusCode = StatusCodes.Status200OK;
            return;
        }

        HttpLog.Requeued(logger, consumer, message.MessageId, settings.RetryAfter);
        await UnavailableAsync(http, settings, "The inbox could not record the message; try again later.").ConfigureAwait(false);
    }

    private async Task TooLargeAsync(HttpContext http, string consumer, long limit)
    {
        HttpLog.TooLarge(logger, consumer, limit);
        await WriteTextAsync(http, StatusCodes.Status413PayloadTooLarge, $"The message is larger than this endpoint's limit of {limit} bytes.").ConfigureAwait(false);
    }

    private static Task UnavailableAsync(HttpContext http, HttpInboxOptions settings, string text)
    {
        if (http.RequestAborted.IsCancellationRequested || http.Response.HasStarted)
        {
            return Task.CompletedTask;
        }

        http.Response.Headers.RetryAfter = Math.Ceiling(settings.RetryAfter.TotalSeconds).ToString(CultureInfo.InvariantCulture);
        return WriteTextAsync(http, StatusCodes.Status503ServiceUnavailable, text);
    }

    private static async Task WriteTextAsync(HttpContext http, int status, string text)
    {
        if (http.Response.HasStarted)
        {
            return;
        }

        http.Response.StatusCode = status;
        http.Response.ContentType = "text/plain; charset=utf-8";
        try
        {
            await http.Response.WriteAsync(text, http.RequestAborted).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            // The sender is gone.
        }
    }

    /// <summary>Reads the whole body, or returns <see langword="null"/> as soon as it exceeds <paramref name="limit"/> bytes.</summary>
    private static async Task<byte[]?> ReadBodyAsync(Stream body, long limit, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(16 * 1024);
        try
        {
            var length = 0;
            while (true)
            {
                if (length == buffer.Length)
                {
                    if (length > limit)
                    {
                        return null;
                    }

                    var larger = ArrayPool<byte>.Shared.Rent((int)Math.Min((long)buffer.Length * 2, Math.Max(limit + 1, buffer.Length + 1L)));
                    buffer.AsSpan(0, length).CopyTo(larger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = larger;
                }

                var read = await body.ReadAsync(buffer.AsMemory(length), cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    return buffer.AsSpan(0, length).ToArray();
                }

                length += read;
                if (length > limit)
                {
                    return null;
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
