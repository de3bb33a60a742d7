using System.Diagnostics;
using System.Globalization;
using Outbox.ActiveMQ.Stomp;

namespace Outbox.ActiveMQ;

/// <summary>
/// The envelope on the wire, as STOMP headers (all text): <c>outbox-message-id</c>, <c>outbox-message-type</c> (also
/// <c>type</c>, ActiveMQ's JMSType), <c>outbox-partition-key</c> (also <c>JMSXGroupID</c>, so ActiveMQ's message groups
/// keep one key on one consumer), <c>outbox-sequence</c>, <c>outbox-attempt</c>, <c>traceparent</c>, <c>content-type</c>
/// and <c>persistent:true</c>. User headers go as they are, except names STOMP or ActiveMQ reserve.
/// </summary>
internal static class ActiveMqMessageMapper
{
    /// <summary>Header names STOMP, ActiveMQ and Artemis give a meaning to; a user header may not use them.</summary>
    private static readonly HashSet<string> Reserved = new(StringComparer.OrdinalIgnoreCase)
    {
        "destination", "receipt", "receipt-id", "content-length", "content-type", "persistent", "transaction", "message-id",
        "subscription", "ack", "id", "expires", "priority", "timestamp", "redelivered", "type", "correlation-id", "reply-to",
        "host", "login", "passcode", "heart-beat", "version", "selector",
    };

    /// <summary>The frame headers the broker adds to a MESSAGE, left out of the incoming message's headers.</summary>
    private static readonly HashSet<string> Transport = new(StringComparer.Ordinal)
    {
        "destination", "message-id", "subscription", "ack", "content-length", "content-type", "expires", "priority",
        "timestamp", "persistent", "redelivered", "JMSXGroupID", "type",
    };

    public static List<KeyValuePair<string, string>> ToSendHeaders(OutboxMessage message, string destination)
    {
        var headers = new List<KeyValuePair<string, string>>(message.Headers.Count + 12)
        {
            new("destination", destination),
            new("persistent", "true"),
            new("content-type", message.ContentType),
            new(OutboxHeaders.MessageId, message.MessageId.ToString("D")),
            new(OutboxHeaders.MessageType, message.MessageType),
            new("type", message.MessageType),
            new(OutboxHeaders.Attempt, message.Attempt.ToString(CultureInfo.InvariantCulture)),
        };
        if (message.TenantId is { } tenant)
        {
            headers.Add(new(OutboxHeaders.Tenant, tenant));
        }

        if (message.PartitionKey is { } key)
        {
            headers.Add(new(OutboxHeaders.PartitionKey, key));
            headers.Add(new("JMSXGroupID", key));
        }

        if (message.SequenceNumber is { } sequence)
        {
            headers.Add(new(OutboxHeaders.SequenceNumber, sequence.ToString(CultureInfo.InvariantCulture)));
        }

        // The dispatcher's span (a child of the publisher's) when tracing is on, else the publisher's own traceparent.
        var traceParent = Activity.Current is { IdFormat: ActivityIdFormat.W3C } activity ? activity.Id : message.TraceParent;
        if (traceParent is not null)
        {
            headers.Add(new(OutboxHeaders.TraceParent, traceParent));
        }

        foreach (var (name, value) in message.Headers)
        {
            if (Reserved.Contains(name) || name.StartsWith("JMS", StringComparison.OrdinalIgnoreCase)
                || name.StartsWith("activemq.", StringComparison.OrdinalIgnoreCase) || name.StartsWith("_AMQ", StringComparison.OrdinalIgnoreCase))
            {
                throw new PermanentDeliveryException($"The header '{name}' is reserved by STOMP or ActiveMQ; give it another name.");
            }

            if (name.Length == 0)
            {
                throw new PermanentDeliveryException("A header has an empty name, which STOMP cannot carry.");
            }

            headers.Add(new(name, value));
        }

        return headers;
    }

    public static IncomingMessage ToIncoming(StompFrame frame, DateTimeOffset receivedAt)
    {
        var headers = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, value) in frame.Headers)
        {
            if (!Transport.Contains(name))
            {
                headers.TryAdd(name, value); // the first value of a repeated header counts
            }
        }

        return new IncomingMessage
        {
            MessageId = headers.GetValueOrDefault(OutboxHeaders.MessageId),
            MessageType = headers.GetValueOrDefault(OutboxHeaders.MessageType) ?? frame["type"],
            PartitionKey = headers.GetValueOrDefault(OutboxHeaders.PartitionKey),
            SequenceNumber = long.TryParse(headers.GetValueOrDefault(OutboxHeaders.SequenceNumber), NumberStyles.Integer, CultureInfo.InvariantCulture, out var sequence)
                ? sequence
                : null,
            Headers = headers,
            Payload = frame.Body,
            ContentType = frame["content-type"],
            TraceParent = headers.GetValueOrDefault(OutboxHeaders.TraceParent),
            Redelivered = string.Equals(frame["redelivered"], "true", StringComparison.OrdinalIgnoreCase),
            ReceivedAt = receivedAt,
        };
    }
}
