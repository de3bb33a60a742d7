using System.Net;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Outbox.Http;

/// <summary>
/// Posts each message to its URL (<see cref="HttpTransportOptions"/>) and reads the answer: 2xx means the receiver took
/// responsibility for it; 408, 429, 5xx, a redirect, a timeout or a network error fail the send (the dispatcher
/// retries with backoff); any other 4xx is final and dead-letters the message with the status and the start of the
/// answer's body. 401 and 403 are endpoint failures too (the receiver does not accept this sender's key or clock, which
/// a configuration change fixes for every message at once), never a dead letter. A destination with a signing key
/// (<see cref="HttpTransportOptions.SigningKeys"/>) gets each request signed afresh at each attempt.
/// </summary>
internal sealed class HttpTransport(
    IHttpClientFactory clientFactory,
    IOptions<HttpTransportOptions> options,
    ILogger<HttpTransport> logger,
    TimeProvider? timeProvider = null) : IMessageTransport
{
    private const int MaxDetailLength = 500;

    private readonly HttpTransportOptions _options = options.Value;

    private readonly HttpRequestSigner _signer = new(options.Value);

    private readonly TimeProvider _time = timeProvider ?? TimeProvider.System;

    public async Task SendAsync(OutboxMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (message.Payload.Length > _options.MaxMessageSize)
        {
            throw new PermanentDeliveryException(
                $"The payload has {message.Payload.Length} bytes, more than the HTTP transport's limit of {_options.MaxMessageSize} (Outbox:Http:MaxMessageSize).");
        }

        var url = UrlOf(message);
        using var request = HttpMessageMapper.ToRequest(message, url);
        _signer.TrySign(request, message.Destination, message.MessageId.ToString("D"), message.Payload.Span, _time.GetUtcNow());
        var client = clientFactory.CreateClient(HttpTransportOptions.HttpClientName);
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        var status = (int)response.StatusCode;
        HttpLog.Posted(logger, message.MessageId, url, status);
        if (status is >= 200 and < 300)
        {
            return;
        }

        var detail = await ReadDetailAsync(response, cancellationToken).ConfigureAwait(false);
        var text = $"POST {url} answered {status} {response.ReasonPhrase}{(detail.Length > 0 ? ": " + detail : "")}";
        if (status is >= 400 and < 500 and not (int)HttpStatusCode.RequestTimeout and not (int)HttpStatusCode.TooManyRequests
            and not (int)HttpStatusCode.Unauthorized and not (int)HttpStatusCode.Forbidden)
        {
            throw new PermanentDeliveryException(text);
        }

        throw new HttpRequestException(text, inner: null, response.StatusCode);
    }

    /// <summary>The URL of <paramref name="message"/>: <see cref="HttpTransportOptions.UrlFor"/>, the destination map, or the base address.</summary>
    internal Uri UrlOf(OutboxMessage message)
    {
        if (_options.UrlFor?.Invoke(message) is { } chosen)
        {
            return chosen;
        }

        if (_options.Destinations.TryGetValue(message.Destination, out var url))
        {
            return url;
        }

        if (_options.BaseAddress is { } baseAddress)
        {
            var root = baseAddress.AbsoluteUri.EndsWith('/') ? baseAddress : new Uri(baseAddress.AbsoluteUri + "/");
            return new Uri(root, Uri.EscapeDataString(message.Destination));
        }

        throw new PermanentDeliveryException(
            $"The HTTP transport has no URL for destination '{message.Destination}': add Outbox:Http:Destinations:{message.Destination}, or set BaseAddress or UrlFor.");
    }

    private static async Task<string> ReadDetailAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            await using (stream.ConfigureAwait(false))
            {
                var buffer = new byte[MaxDetailLength * 4];
                var read = 0;
                int n;
                while (read < buffer.Length && (n = await stream.ReadAsync(buffer.AsMemory(read), cancellationToken).ConfigureAwait(false)) > 0)
                {
                    read += n;
                }

                var text = Encoding.UTF8.GetString(buffer, 0, read).ReplaceLineEndings(" ").Trim();
                return text.Length <= MaxDetailLength ? text : string.Concat(text.AsSpan(0, MaxDetailLength - 1), "…");
            }
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException)
        {
            return "";
        }
    }
}
