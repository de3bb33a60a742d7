using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using Microsoft.AspNetCore.Http;

namespace Outbox.Http;

/// <summary>
/// The envelope on the wire, both ways. A POST whose body is the payload, <c>Content-Type</c> the message's content
/// type, and the headers <c>outbox-message-id</c>, <c>outbox-message-type</c>, <c>outbox-partition-key</c> and
/// <c>outbox-sequence</c> (when present), <c>outbox-attempt</c>, <c>traceparent</c> and the user headers. A value
/// outside printable ASCII is percent-encoded and its name listed in <c>outbox-encoded-headers</c>.
/// </summary>
internal static class HttpMessageMapper
{
    // Request headers that belong to HTTP itself (or to authentication), not to the message: not handed to the inbox (so
    // never stored with a dead letter), and refused as user headers.
    private static readonly HashSet<string> TransportHeaders = new(StringComparer.OrdinalIgnoreCase)
    {
        "Host", "Content-Length", "Content-Type", "Content-Encoding", "Content-Language", "Content-Location", "Content-MD5",
        "Content-Range", "Transfer-Encoding", "Connection", "Keep-Alive", "Proxy-Connection", "Expect", "TE", "Trailer",
        "Upgrade", "Authorization", "Proxy-Authorization", "Cookie", OutboxHttpHeaders.EncodedHeaders,
        OutboxHttpHeaders.SignatureKeyId, OutboxHttpHeaders.SignatureTimestamp, OutboxHttpHeaders.Signature, OutboxHttpHeaders.BatchId,
    };

    public static HttpRequestMessage ToRequest(OutboxMessage message, Uri url)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, url)
        {
            Content = new ReadOnlyMemoryContent(message.Payload),
        };
        request.Content.Headers.ContentType = ContentTypeOf(message);
        List<string>? encoded = null;
        foreach (var (name, value) in message.Headers)
        {
            CheckHeaderName(name);
            Add(request, name, value, ref encoded);
        }

        Add(request, OutboxHeaders.MessageId, message.MessageId.ToString("D"), ref encoded);
        Add(request, OutboxHeaders.MessageType, message.MessageType, ref encoded);
        if (message.PartitionKey is not null)
        {
            Add(request, OutboxHeaders.PartitionKey, message.PartitionKey, ref encoded);
        }

        if (message.SequenceNumber is { } sequence)
        {
            Add(request, OutboxHeaders.SequenceNumber, sequence.ToString(CultureInfo.InvariantCulture), ref encoded);
        }

        Add(request, OutboxHeaders.Attempt, message.Attempt.ToString(CultureInfo.InvariantCulture), ref encoded);
        if (message.TenantId is not null)
        {
            Add(request, OutboxHeaders.Tenant, message.TenantId, ref encoded);
        }

        var traceParent = TraceParentOf(message);
        if (traceParent is not null)
        {
            Add(request, OutboxHeaders.TraceParent, traceParent, ref encoded);
        }

        if (encoded is not null)
        {
            request.Headers.TryAddWithoutValidation(OutboxHttpHeaders.EncodedHeaders, string.Join(',', encoded));
        }

        return request;
    }

    /// <summary>The message's content type as an HTTP media type; a <see cref="PermanentDeliveryException"/> when it is not one.</summary>
    public static MediaTypeHeaderValue ContentTypeOf(OutboxMessage message) =>
        MediaTypeHeaderValue.TryParse(message.ContentType, out var contentType)
            ? contentType
            : throw new PermanentDeliveryException($"The content type '{message.ContentType}' is not a valid HTTP media type.");

    /// <summary>Refuses a user header whose name belongs to HTTP or to the library, in either format.</summary>
    public static void CheckHeaderName(string name)
    {
        if (TransportHeaders.Contains(name) || name.StartsWith(OutboxHeaders.ReservedPrefix, StringComparison.OrdinalIgnoreCase))
        {
            throw new PermanentDeliveryException($"The header '{name}' cannot travel over HTTP: the name belongs to HTTP or to the library.");
        }
    }

    /// <summary>The dispatcher's span (a child of the publisher's) when tracing is on, else the publisher's own traceparent.</summary>
    public static string? TraceParentOf(OutboxMessage message) =>
        Activity.Current is { IdFormat: ActivityIdFormat.W3C } activity ? activity.Id : message.TraceParent;

    public static IncomingMessage ToIncoming(HttpRequest request, ReadOnlyMemory<byte> body)
    {
        HashSet<string>? encoded = null;
        if (request.Headers.TryGetValue(OutboxHttpHeaders.EncodedHeaders, out var list))
        {
            encoded = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            foreach (var item in list)
            {
                foreach (var name in (item ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                {
                    encoded.Add(name);
                }
            }
        }

        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, values) in request.Headers)
        {
            if (TransportHeaders.Contains(name) || values.Count == 0)
            {
                continue;
            }

            // A header sent twice (a proxy adding its own traceparent) keeps its first value: the sender's.
            var value = values[0] ?? "";
            headers[name] = encoded is not null && encoded.Contains(name) ? Decode(value) : value;
        }

        var attempt = int.TryParse(headers.GetValueOrDefault(OutboxHeaders.Attempt), NumberStyles.Integer, CultureInfo.InvariantCulture, out var a) ? a : 1;
        return new IncomingMessage
        {
            MessageId = headers.GetValueOrDefault(OutboxHeaders.MessageId),
            MessageType = headers.GetValueOrDefault(OutboxHeaders.MessageType),
            PartitionKey = headers.GetValueOrDefault(OutboxHeaders.PartitionKey),
            SequenceNumber = long.TryParse(headers.GetValueOrDefault(OutboxHeaders.SequenceNumber), NumberStyles.Integer, CultureInfo.InvariantCulture, out var sequence)
                ? sequence
                : null,
            Headers = headers,
            Payload = body,
            ContentType = request.ContentType,
            TraceParent = headers.GetValueOrDefault(OutboxHeaders.TraceParent),
            Redelivered = attempt > 1,
        };
    }

    private static void Add(HttpRequestMessage request, string name, string value, ref List<string>? encoded)
    {
        if (!IsPrintableAscii(value))
        {
            value = Uri.EscapeDataString(value);
            (encoded ??= []).Add(name);
        }

        if (!request.Headers.TryAddWithoutValidation(name, value))
        {
            throw new PermanentDeliveryException($"The header name '{name}' is not a valid HTTP header name.");
        }
    }

    private static bool IsPrintableAscii(string value)
    {
        foreach (var c in value)
        {
            if (c is < ' ' or > '~')
            {
                return false;
            }
        }

        // Leading or trailing spaces would be trimmed by HTTP: encode them too.
        return value.Length == 0 || (value[0] != ' ' && value[^1] != ' ');
    }

    private static string Decode(string value)
    {
        try
        {
            return Uri.UnescapeDataString(value);
        }
        catch (UriFormatException)
        {
            return value;
        }
    }
}
