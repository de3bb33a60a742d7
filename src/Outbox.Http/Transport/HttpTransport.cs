using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
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
/// Several claimed messages for one URL go in one request (<see cref="HttpBatchFormat"/>, up to
/// <see cref="HttpTransportOptions.MaxBatchMessages"/> and <see cref="HttpTransportOptions.MaxBatchBytes"/>), and each is
/// settled by the outcome the receiver answers for it, once the URL's receiver has said it takes batches (the header
/// <see cref="OutboxHttpHeaders.AcceptsBatches"/> on an answer to a single POST): until then, and for any other receiver
/// (a webhook, an older version of the inbox), one POST per message. A receiver that answers a batch with 2xx but no
/// per-message outcomes, or 415, gets one POST per message from then on; a batch refused as too large (413) or with
/// another final 4xx is sent again one POST per message, so that each message gets its own verdict.
/// </summary>
internal sealed class HttpTransport(
    IHttpClientFactory clientFactory,
    IOptions<HttpTransportOptions> options,
    ILogger<HttpTransport> logger,
    TimeProvider? timeProvider = null) : IMessageBatchTransport
{
    private const int MaxDetailLength = 500;

    // The largest batch answer read: an entry per message is well under 1 KiB (reasons are truncated by the receiver).
    private const int MaxResultBytes = 4 * 1024 * 1024;

    // The most URLs whose batch support is remembered; further ones get one POST per message.
    private const int MaxKnownUrls = 10_000;

    // What each URL's receiver showed: true when it advertised batches (OutboxHttpHeaders.AcceptsBatches), false when it
    // then answered a batch without per-message outcomes. A URL not here gets one POST per message.
    private readonly ConcurrentDictionary<Uri, bool> _takesBatches = new();

    private readonly HttpTransportOptions _options = options.Value;

    private readonly HttpRequestSigner _signer = new(options.Value);

    private readonly TimeProvider _time = timeProvider ?? TimeProvider.System;

    public async Task SendAsync(OutboxMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        CheckSize(message);

        var url = UrlOf(message);
        using var request = HttpMessageMapper.ToRequest(message, url);
        _signer.TrySign(request, message.Destination, message.MessageId.ToString("D"), message.Payload.Span, _time.GetUtcNow());
        var client = clientFactory.CreateClient(HttpTransportOptions.HttpClientName);
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        var status = (int)response.StatusCode;
        HttpLog.Posted(logger, message.MessageId, url, status);
        if (status < 500 && response.Headers.Contains(OutboxHttpHeaders.AcceptsBatches))
        {
            RememberTakesBatches(url);
        }

        if (status is >= 200 and < 300)
        {
            return;
        }

        var detail = await ReadDetailAsync(response, cancellationToken).ConfigureAwait(false);
        var text = $"POST {url} answered {status} {response.ReasonPhrase}{(detail.Length > 0 ? ": " + detail : "")}";
        if (IsFinal(status))
        {
            throw new PermanentDeliveryException(text);
        }

        throw new HttpRequestException(text, inner: null, response.StatusCode);
    }

    /// <summary>A 4xx that retrying cannot change: not 408, 429 (wait), 401 or 403 (a configuration change fixes them).</summary>
    private static bool IsFinal(int status) =>
        status is >= 400 and < 500 and not (int)HttpStatusCode.RequestTimeout and not (int)HttpStatusCode.TooManyRequests
            and not (int)HttpStatusCode.Unauthorized and not (int)HttpStatusCode.Forbidden;

    /// <summary>Why <paramref name="message"/> can never go over HTTP (too large, a content type or header HTTP cannot carry), or null.</summary>
    private PermanentDeliveryException? Refusal(OutboxMessage message)
    {
        try
        {
            CheckSize(message);
            HttpMessageMapper.ContentTypeOf(message);
            foreach (var name in message.Headers.Keys)
            {
                HttpMessageMapper.CheckHeaderName(name);
            }

            return null;
        }
        catch (PermanentDeliveryException ex)
        {
            return ex;
        }
    }

    private void CheckSize(OutboxMessage message)
    {
        if (message.Payload.Length > _options.MaxMessageSize)
        {
            throw new PermanentDeliveryException(
                $"The payload has {message.Payload.Length} bytes, more than the HTTP transport's limit of {_options.MaxMessageSize} (Outbox:Http:MaxMessageSize).");
        }
    }

    /// <summary>One POST for one message, its failure as the result (a refusal of the message or of the endpoint).</summary>
    private async Task<Exception?> SendOneAsync(OutboxMessage message, CancellationToken cancellationToken)
    {
        try
        {
            await SendAsync(message, cancellationToken).ConfigureAwait(false);
            return null;
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return ex;
        }
    }

    private Uri? TryUrlOf(OutboxMessage message)
    {
        try
        {
            return UrlOf(message);
        }
        catch (PermanentDeliveryException)
        {
            return null;
        }
    }

    /// <summary>The whole answer, or null when it is larger than <see cref="MaxResultBytes"/> or cut off.</summary>
    private static async Task<byte[]?> ReadAllAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (response.Content.Headers.ContentLength > MaxResultBytes)
        {
            return null;
        }

        try
        {
            var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            await using (stream.ConfigureAwait(false))
            {
                using var copy = new MemoryStream();
                var buffer = new byte[16 * 1024];
                int n;
                while ((n = await stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
                {
                    copy.Write(buffer, 0, n);
                    if (copy.Length > MaxResultBytes)
                    {
                        return null;
                    }
                }

                return copy.ToArray();
            }
        }
        catch (IOException)
        {
            return null;
        }
    }

    public IReadOnlyList<IReadOnlyList<OutboxMessage>> Split(IReadOnlyList<OutboxMessage> messages)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var groups = new List<IReadOnlyList<OutboxMessage>>();
        var open = new Dictionary<Uri, (List<OutboxMessage> Messages, long Bytes)>();
        foreach (var message in messages)
        {
            var url = _options.MaxBatchMessages > 1 ? TryUrlOf(message) : null;
            var size = HttpBatchFormat.EstimatedSize(message);
            if (url is null || message.Payload.Length > _options.MaxMessageSize || size > _options.MaxBatchBytes || !_takesBatches.GetValueOrDefault(url))
            {
                groups.Add([message]); // SendAsync reports what is wrong with it, or posts it alone
                continue;
            }

            if (open.TryGetValue(url, out var current) && (current.Messages.Count >= _options.MaxBatchMessages || current.Bytes + size > _options.MaxBatchBytes))
            {
                groups.Add(current.Messages);
                open.Remove(url);
            }

            if (open.TryGetValue(url, out current))
            {
                current.Messages.Add(message);
                open[url] = (current.Messages, current.Bytes + size);
            }
            else
            {
                open[url] = ([message], size + 32);
            }
        }

        foreach (var (messagesOfUrl, _) in open.Values)
        {
            groups.Add(messagesOfUrl);
        }

        return groups;
    }

    public async Task<IReadOnlyList<Exception?>> SendBatchAsync(IReadOnlyList<OutboxMessage> messages, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var results = new Exception?[messages.Count];
        var members = new List<OutboxMessage>(messages.Count);
        var positions = new List<int>(messages.Count);
        var traceParents = new List<string?>(messages.Count);
        for (var i = 0; i < messages.Count; i++)
        {
            if (Refusal(messages[i]) is { } refusal)
            {
                results[i] = refusal;
                continue;
            }

            members.Add(messages[i]);
            positions.Add(i);
            traceParents.Add(HttpMessageMapper.TraceParentOf(messages[i]));
        }

        if (members.Count < 2)
        {
            if (members.Count == 1)
            {
                results[positions[0]] = await SendOneAsync(members[0], cancellationToken).ConfigureAwait(false);
            }

            return results;
        }

        var url = UrlOf(members[0]);
        var batchId = Guid.CreateVersion7().ToString("D");
        var body = HttpBatchFormat.WriteRequest(members, traceParents);
        using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue(HttpBatchFormat.ContentType);
        request.Headers.TryAddWithoutValidation(OutboxHttpHeaders.BatchId, batchId);
        _signer.TrySign(request, members[0].Destination, batchId, body, _time.GetUtcNow());
        var client = clientFactory.CreateClient(HttpTransportOptions.HttpClientName);
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        var status = (int)response.StatusCode;
        HttpLog.PostedBatch(logger, batchId, members.Count, body.Length, url, status);
        if (status is >= 200 and < 300 && HttpBatchFormat.IsResult(response.Content.Headers.ContentType))
        {
            var answer = await ReadAllAsync(response, cancellationToken).ConfigureAwait(false);
            var outcomes = answer is null ? null : HttpBatchFormat.ReadResults(answer, members.Count);
            for (var j = 0; outcomes is not null && j < outcomes.Length; j++)
            {
                if (outcomes[j].MessageId is { } id && !string.Equals(id, members[j].MessageId.ToString("D"), StringComparison.OrdinalIgnoreCase))
                {
                    outcomes = null;
                }
            }

            if (outcomes is null)
            {
                // The receiver may have processed them: every message is sent again, and its inbox skips what it holds.
                throw new HttpRequestException($"POST {url} answered {status} to batch {batchId} with a malformed batch result.", inner: null, response.StatusCode);
            }

            for (var j = 0; j < outcomes.Length; j++)
            {
                results[positions[j]] = outcomes[j].Outcome switch
                {
                    HttpBatchOutcome.Accepted => null,
                    HttpBatchOutcome.Rejected => new PermanentDeliveryException(
                        $"POST {url} (batch {batchId}) answered that the receiver rejected message {members[j].MessageId}: {outcomes[j].Reason ?? "no reason given"}"),
                    _ => new HttpRequestException(
                        $"POST {url} (batch {batchId}) answered that the receiver could not record message {members[j].MessageId} now: {outcomes[j].Reason ?? "no reason given"}",
                        inner: null,
                        HttpStatusCode.ServiceUnavailable),
                };
            }

            return results;
        }

        var detail = status is >= 200 and < 300 ? "" : await ReadDetailAsync(response, cancellationToken).ConfigureAwait(false);
        var text = $"POST {url} answered {status} {response.ReasonPhrase} to batch {batchId}{(detail.Length > 0 ? ": " + detail : "")}";
        if (!IsFinal(status) && status is not (>= 200 and < 300))
        {
            throw new HttpRequestException(text, inner: null, response.StatusCode);
        }

        // The receiver took the request but not as a batch: each message again on its own, with its own verdict.
        if (status is (>= 200 and < 300) or (int)HttpStatusCode.UnsupportedMediaType)
        {
            _takesBatches[url] = false;
        }

        HttpLog.BatchRefused(logger, batchId, members.Count, url, text);
        var singles = new Task<Exception?>[members.Count];
        for (var j = 0; j < members.Count; j++)
        {
            singles[j] = SendOneAsync(members[j], cancellationToken);
        }

        for (var j = 0; j < members.Count; j++)
        {
            results[positions[j]] = await singles[j].ConfigureAwait(false);
        }

        return results;
    }

    /// <summary>The receiver at <paramref name="url"/> said it takes batches (unless it since showed it does not).</summary>
    internal void RememberTakesBatches(Uri url)
    {
        if (_takesBatches.Count < MaxKnownUrls)
        {
            _takesBatches.TryAdd(url, true);
        }
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
