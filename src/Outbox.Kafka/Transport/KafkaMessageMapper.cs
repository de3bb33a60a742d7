using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Confluent.Kafka;

namespace Outbox.Kafka;

/// <summary>
/// The envelope on the wire. The record key is the partition key (UTF-8; none for unkeyed messages), so one key's
/// messages land in one partition. Headers (UTF-8 text): <c>outbox-message-id</c>, <c>outbox-message-type</c>,
/// <c>outbox-partition-key</c>, <c>outbox-sequence</c> (when present), <c>outbox-attempt</c>, <c>content-type</c>,
/// <c>traceparent</c>; user headers go as they are. The record timestamp is the message's creation time.
/// </summary>
internal static class KafkaMessageMapper
{
    public const string ContentTypeHeader = "content-type";

    public static Message<byte[]?, byte[]> ToMessage(OutboxMessage message)
    {
        var headers = new Headers();
        foreach (var (name, value) in message.Headers)
        {
            headers.Add(name, Encoding.UTF8.GetBytes(value));
        }

        headers.Add(OutboxHeaders.MessageId, Encoding.UTF8.GetBytes(message.MessageId.ToString("D")));
        headers.Add(OutboxHeaders.MessageType, Encoding.UTF8.GetBytes(message.MessageType));
        if (message.PartitionKey is not null)
        {
            headers.Add(OutboxHeaders.PartitionKey, Encoding.UTF8.GetBytes(message.PartitionKey));
        }

        if (message.SequenceNumber is { } sequence)
        {
            headers.Add(OutboxHeaders.SequenceNumber, Encoding.UTF8.GetBytes(sequence.ToString(CultureInfo.InvariantCulture)));
        }

        headers.Add(OutboxHeaders.Attempt, Encoding.UTF8.GetBytes(message.Attempt.ToString(CultureInfo.InvariantCulture)));
        if (message.TenantId is not null)
        {
            headers.Add(OutboxHeaders.Tenant, Encoding.UTF8.GetBytes(message.TenantId));
        }

        headers.Add(ContentTypeHeader, Encoding.UTF8.GetBytes(message.ContentType));

        // The dispatcher's span (a child of the publisher's) when tracing is on, else the publisher's own traceparent.
        var traceParent = Activity.Current is { IdFormat: ActivityIdFormat.W3C } activity ? activity.Id : message.TraceParent;
        if (traceParent is not null)
        {
            headers.Add(OutboxHeaders.TraceParent, Encoding.UTF8.GetBytes(traceParent));
        }

        return new Message<byte[]?, byte[]>
        {
            Key = message.PartitionKey is null ? null : Encoding.UTF8.GetBytes(message.PartitionKey),
            Value = MemoryMarshal.TryGetArray(message.Payload, out var segment) && segment.Offset == 0 && segment.Count == segment.Array!.Length
                ? segment.Array
                : message.Payload.ToArray(),
            Headers = headers,
            Timestamp = new Timestamp(message.CreatedAt.UtcDateTime, TimestampType.CreateTime),
        };
    }

    public static IncomingMessage ToIncoming(ConsumeResult<byte[]?, byte[]?> result)
    {
        var headers = new Dictionary<string, string>(StringComparer.Ordinal);
        if (result.Message.Headers is { } raw)
        {
            foreach (var header in raw)
            {
                // A header may repeat; the last one wins, as Kafka clients usually read them.
                headers[header.Key] = header.GetValueBytes() is { } bytes ? Encoding.UTF8.GetString(bytes) : "";
            }
        }

        var partitionKey = headers.GetValueOrDefault(OutboxHeaders.PartitionKey)
            ?? (result.Message.Key is { } key ? Encoding.UTF8.GetString(key) : null);
        return new IncomingMessage
        {
            MessageId = headers.GetValueOrDefault(OutboxHeaders.MessageId),
            MessageType = headers.GetValueOrDefault(OutboxHeaders.MessageType),
            PartitionKey = partitionKey,
            SequenceNumber = long.TryParse(headers.GetValueOrDefault(OutboxHeaders.SequenceNumber), NumberStyles.Integer, CultureInfo.InvariantCulture, out var sequence)
                ? sequence
                : null,
            Headers = headers,
            Payload = result.Message.Value ?? [],
            ContentType = headers.GetValueOrDefault(ContentTypeHeader),
            TraceParent = headers.GetValueOrDefault(OutboxHeaders.TraceParent),
        };
    }
}
