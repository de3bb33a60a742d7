using System.Buffers;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text.Json;

namespace Outbox.Http;

/// <summary>What the receiver answers for one message of a batch.</summary>
internal enum HttpBatchOutcome
{
    /// <summary>The receiver took responsibility for it: processed, a duplicate skipped, or dead-lettered on its side.</summary>
    Accepted,

    /// <summary>Refused for good, unrecorded (the consumer's dead letters are full): the sender dead-letters it with the reason.</summary>
    Rejected,

    /// <summary>No outcome could be recorded now (the store is down, the host is stopping): the sender tries again later.</summary>
    Retry,
}

/// <summary>One entry of a batch answer: the message id, its outcome and, for a rejected or retried one, why.</summary>
internal readonly record struct HttpBatchResult(string? MessageId, HttpBatchOutcome Outcome, string? Reason);

/// <summary>
/// The batch format on the wire, both ways. A request carries several messages of one destination as
/// <c>application/vnd.outbox.batch+json</c>:
/// <c>{"messages":[{"id","type","partitionKey","sequence","attempt","contentType","traceparent","headers":{..},"payload":"base64"}]}</c>,
/// with the request's own id in <see cref="OutboxHttpHeaders.BatchId"/> (signed in place of a message id). The answer
/// (200, <c>application/vnd.outbox.batch-result+json</c>) holds one entry per message, in the same order:
/// <c>{"results":[{"id","outcome":"accepted"|"rejected"|"retry","reason"}]}</c>.
/// </summary>
internal static class HttpBatchFormat
{
    public const string ContentType = "application/vnd.outbox.batch+json";

    public const string ResultContentType = "application/vnd.outbox.batch-result+json";

    /// <summary>The most messages one request may carry (<see cref="HttpTransportOptions.MaxBatchMessages"/>'s upper bound).</summary>
    public const int MaxMessages = 1000;

    // The JSON property names, shared by the writer and the reader.
    private const string Messages = "messages";
    private const string Id = "id";
    private const string Type = "type";
    private const string PartitionKey = "partitionKey";
    private const string Sequence = "sequence";
    private const string Attempt = "attempt";
    private const string MessageContentType = "contentType";
    private const string TraceParent = "traceparent";
    private const string Tenant = "tenant";
    private const string Headers = "headers";
    private const string Payload = "payload";
    private const string Results = "results";
    private const string Outcome = "outcome";
    private const string Reason = "reason";

    /// <summary>
    /// A generous estimate of the bytes <paramref name="message"/> takes in a batch body (the payload in base64, the
    /// headers as JSON-escaped text), so that a batch kept under a byte limit by these estimates is under it once written.
    /// </summary>
    public static long EstimatedSize(OutboxMessage message)
    {
        long size = 256 + ((message.Payload.Length + 2L) / 3 * 4);
        size += 6L * (message.MessageType.Length + (message.PartitionKey?.Length ?? 0) + message.ContentType.Length + (message.TraceParent?.Length ?? 0) + (message.TenantId?.Length ?? 0));
        foreach (var (name, value) in message.Headers)
        {
            size += 8 + (6L * (name.Length + value.Length));
        }

        return size;
    }

    public static bool IsBatch(string? contentType) =>
        MediaTypeHeaderValue.TryParse(contentType, out var parsed) && string.Equals(parsed.MediaType, ContentType, StringComparison.OrdinalIgnoreCase);

    public static bool IsResult(MediaTypeHeaderValue? contentType) =>
        contentType is not null && string.Equals(contentType.MediaType, ResultContentType, StringComparison.OrdinalIgnoreCase);

    /// <summary>Writes the request body of <paramref name="messages"/>, each with its <paramref name="traceParents"/> entry.</summary>
    public static byte[] WriteRequest(IReadOnlyList<OutboxMessage> messages, IReadOnlyList<string?> traceParents)
    {
        var buffer = new ArrayBufferWriter<byte>(4096);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteStartArray(Messages);
            for (var i = 0; i < messages.Count; i++)
            {
                var message = messages[i];
                json.WriteStartObject();
                json.WriteString(Id, message.MessageId.ToString("D"));
                json.WriteString(Type, message.MessageType);
                if (message.PartitionKey is not null)
                {
                    json.WriteString(PartitionKey, message.PartitionKey);
                }

                if (message.SequenceNumber is { } sequence)
                {
                    json.WriteNumber(Sequence, sequence);
                }

                json.WriteNumber(Attempt, message.Attempt);
                if (message.TenantId is not null)
                {
                    json.WriteString(Tenant, message.TenantId);
                }

                json.WriteString(MessageContentType, message.ContentType);
                if (traceParents[i] is { } traceParent)
                {
                    json.WriteString(TraceParent, traceParent);
                }

                if (message.Headers.Count > 0)
                {
                    json.WriteStartObject(Headers);
                    foreach (var (name, value) in message.Headers)
                    {
                        json.WriteString(name, value);
                    }

                    json.WriteEndObject();
                }

                json.WriteBase64String(Payload, message.Payload.Span);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>
    /// Reads a batch request body into incoming messages (the outbox fields also as headers, as a single POST carries
    /// them); <see langword="null"/> with <paramref name="error"/> when the body is not a well-formed batch.
    /// </summary>
    public static List<IncomingMessage>? ReadRequest(ReadOnlyMemory<byte> body, out string error)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            if (document.RootElement.ValueKind != JsonValueKind.Object
                || !document.RootElement.TryGetProperty(Messages, out var list)
                || list.ValueKind != JsonValueKind.Array)
            {
                error = $"The body is not a batch: it needs an object with a \"{Messages}\" array.";
                return null;
            }

            var count = list.GetArrayLength();
            if (count == 0 || count > MaxMessages)
            {
                error = $"The batch holds {count} messages; a batch holds 1 to {MaxMessages}.";
                return null;
            }

            var messages = new List<IncomingMessage>(count);
            foreach (var entry in list.EnumerateArray())
            {
                if (entry.ValueKind != JsonValueKind.Object)
                {
                    error = $"Entry {messages.Count} of the batch is not an object.";
                    return null;
                }

                messages.Add(ReadMessage(entry));
            }

            error = "";
            return messages;
        }
        catch (Exception ex) when (ex is JsonException or FormatException or InvalidOperationException)
        {
            error = $"The body is not a well-formed batch: {ex.Message}";
            return null;
        }
    }

    /// <summary>Writes the answer to a batch: one entry per message, in order.</summary>
    public static byte[] WriteResults(IReadOnlyList<HttpBatchResult> results)
    {
        var buffer = new ArrayBufferWriter<byte>(64 * results.Count + 32);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteStartArray(Results);
            foreach (var result in results)
            {
                json.WriteStartObject();
                if (result.MessageId is not null)
                {
                    json.WriteString(Id, result.MessageId);
                }

                json.WriteString(Outcome, result.Outcome switch
                {
                    HttpBatchOutcome.Accepted => "accepted",
                    HttpBatchOutcome.Rejected => "rejected",
                    _ => "retry",
                });
                if (result.Reason is not null)
                {
                    json.WriteString(Reason, result.Reason);
                }

                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>
    /// Reads the answer to a batch of <paramref name="expected"/> messages; <see langword="null"/> when it is not one
    /// entry per message with a known outcome.
    /// </summary>
    public static HttpBatchResult[]? ReadResults(ReadOnlyMemory<byte> body, int expected)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            if (document.RootElement.ValueKind != JsonValueKind.Object
                || !document.RootElement.TryGetProperty(Results, out var list)
                || list.ValueKind != JsonValueKind.Array
                || list.GetArrayLength() != expected)
            {
                return null;
            }

            var results = new HttpBatchResult[expected];
            var i = 0;
            foreach (var entry in list.EnumerateArray())
            {
                var outcome = entry.ValueKind == JsonValueKind.Object ? String(entry, Outcome) : null;
                HttpBatchOutcome? kind = outcome switch
                {
                    "accepted" => HttpBatchOutcome.Accepted,
                    "rejected" => HttpBatchOutcome.Rejected,
                    "retry" => HttpBatchOutcome.Retry,
                    _ => null,
                };
                if (kind is null)
                {
                    return null;
                }

                results[i++] = new HttpBatchResult(String(entry, Id), kind.Value, String(entry, Reason));
            }

            return results;
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            return null;
        }
    }

    private static IncomingMessage ReadMessage(JsonElement entry)
    {
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        if (entry.TryGetProperty(Headers, out var given) && given.ValueKind == JsonValueKind.Object)
        {
            foreach (var header in given.EnumerateObject())
            {
                if (header.Value.ValueKind == JsonValueKind.String && !header.Name.StartsWith(OutboxHeaders.ReservedPrefix, StringComparison.OrdinalIgnoreCase))
                {
                    headers[header.Name] = header.Value.GetString()!;
                }
            }
        }

        var id = String(entry, Id);
        var type = String(entry, Type);
        var partitionKey = String(entry, PartitionKey);
        long? sequence = entry.TryGetProperty(Sequence, out var s) && s.ValueKind == JsonValueKind.Number && s.TryGetInt64(out var n) ? n : null;
        var attempt = entry.TryGetProperty(Attempt, out var a) && a.ValueKind == JsonValueKind.Number && a.TryGetInt32(out var at) ? at : 1;
        var traceParent = String(entry, TraceParent);
        Put(headers, OutboxHeaders.MessageId, id);
        Put(headers, OutboxHeaders.MessageType, type);
        Put(headers, OutboxHeaders.PartitionKey, partitionKey);
        Put(headers, OutboxHeaders.SequenceNumber, sequence?.ToString(CultureInfo.InvariantCulture));
        Put(headers, OutboxHeaders.Attempt, attempt.ToString(CultureInfo.InvariantCulture));
        Put(headers, OutboxHeaders.TraceParent, traceParent);
        Put(headers, OutboxHeaders.Tenant, String(entry, Tenant));
        var payload = entry.TryGetProperty(Payload, out var p) && p.ValueKind == JsonValueKind.String ? p.GetBytesFromBase64() : [];
        return new IncomingMessage
        {
            MessageId = id,
            MessageType = type,
            PartitionKey = partitionKey,
            SequenceNumber = sequence,
            Headers = headers,
            Payload = payload,
            ContentType = String(entry, MessageContentType),
            TraceParent = traceParent,
            Redelivered = attempt > 1,
        };
    }

    private static void Put(Dictionary<string, string> headers, string name, string? value)
    {
        if (value is not null)
        {
            headers[name] = value;
        }
    }

    private static string? String(JsonElement entry, string name) =>
        entry.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}
