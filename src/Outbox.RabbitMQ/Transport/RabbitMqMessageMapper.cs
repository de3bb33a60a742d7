using System.Diagnostics;
using System.Globalization;
using System.Text;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace Outbox.RabbitMQ;

/// <summary>
/// The envelope on the wire. Library headers (all text): <c>outbox-message-id</c> (also the <c>message_id</c>
/// property), <c>outbox-message-type</c> (also <c>type</c>), <c>outbox-partition-key</c>, <c>outbox-sequence</c> (when
/// present), <c>outbox-attempt</c>, <c>traceparent</c>; the content type travels as <c>content_type</c>. User headers
/// go as they are. Messages are persistent.
/// </summary>
internal static class RabbitMqMessageMapper
{
    public static BasicProperties ToProperties(OutboxMessage message)
    {
        var headers = new Dictionary<string, object?>(message.Headers.Count + 6, StringComparer.Ordinal);
        foreach (var (name, value) in message.Headers)
        {
            headers[name] = value;
        }

        var id = message.MessageId.ToString("D");
        headers[OutboxHeaders.MessageId] = id;
        headers[OutboxHeaders.MessageType] = message.MessageType;
        if (message.PartitionKey is not null)
        {
            headers[OutboxHeaders.PartitionKey] = message.PartitionKey;
        }

        if (message.SequenceNumber is { } sequence)
        {
            headers[OutboxHeaders.SequenceNumber] = sequence.ToString(CultureInfo.InvariantCulture);
        }

        headers[OutboxHeaders.Attempt] = message.Attempt.ToString(CultureInfo.InvariantCulture);
        if (message.TenantId is not null)
        {
            headers[OutboxHeaders.Tenant] = message.TenantId;
        }

        // The dispatcher's span (a child of the publisher's) when tracing is on, else the publisher's own traceparent.
        var traceParent = Activity.Current is { IdFormat: ActivityIdFormat.W3C } activity ? activity.Id : message.TraceParent;
        if (traceParent is not null)
        {
            headers[OutboxHeaders.TraceParent] = traceParent;
        }

        return new BasicProperties
        {
            Persistent = true,
            MessageId = id,
            Type = message.MessageType,
            ContentType = message.ContentType,
            Timestamp = new AmqpTimestamp(message.CreatedAt.ToUnixTimeSeconds()),
            Headers = headers,
        };
    }

    public static IncomingMessage ToIncoming(BasicDeliverEventArgs delivery)
    {
        var properties = delivery.BasicProperties;
        var headers = new Dictionary<string, string>(StringComparer.Ordinal);
        if (properties.Headers is { } raw)
        {
            foreach (var (name, value) in raw)
            {
                if (AsText(value) is { } text)
                {
                    headers[name] = text;
                }
            }
        }

        return new IncomingMessage
        {
            MessageId = headers.GetValueOrDefault(OutboxHeaders.MessageId) ?? (properties.IsMessageIdPresent() ? properties.MessageId : null),
            MessageType = headers.GetValueOrDefault(OutboxHeaders.MessageType) ?? (properties.IsTypePresent() ? properties.Type : null),
            PartitionKey = headers.GetValueOrDefault(OutboxHeaders.PartitionKey),
            SequenceNumber = long.TryParse(headers.GetValueOrDefault(OutboxHeaders.SequenceNumber), NumberStyles.Integer, CultureInfo.InvariantCulture, out var sequence)
                ? sequence
                : null,
            Headers = headers,
            Payload = delivery.Body.ToArray(), // the body is only valid during the callback; the inbox may keep it
            ContentType = properties.IsContentTypePresent() ? properties.ContentType : null,
            TraceParent = headers.GetValueOrDefault(OutboxHeaders.TraceParent),
            Redelivered = delivery.Redelivered,
        };
    }

    private static string? AsText(object? value) => value switch
    {
        null => null,
        byte[] bytes => Encoding.UTF8.GetString(bytes),
        string text => text,
        AmqpTimestamp timestamp => timestamp.UnixTime.ToString(CultureInfo.InvariantCulture),
        IFormattable formattable => formattable.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString(),
    };
}
