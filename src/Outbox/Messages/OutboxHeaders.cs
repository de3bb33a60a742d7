namespace Outbox;

/// <summary>Names of the headers the library itself sets on transported messages.</summary>
public static class OutboxHeaders
{
    /// <summary>Prefix reserved for library headers; user headers may not start with it.</summary>
    public const string ReservedPrefix = "outbox-";

    /// <summary>The message id.</summary>
    public const string MessageId = "outbox-message-id";

    /// <summary>The logical message type.</summary>
    public const string MessageType = "outbox-message-type";

    /// <summary>The partition key.</summary>
    public const string PartitionKey = "outbox-partition-key";

    /// <summary>The per-key sequence number.</summary>
    public const string SequenceNumber = "outbox-sequence";

    /// <summary>The delivery attempt number.</summary>
    public const string Attempt = "outbox-attempt";

    /// <summary>The tenant whose database the message came from (<see cref="OutboxMessage.TenantId"/>), for a database-per-tenant outbox.</summary>
    public const string Tenant = "outbox-tenant";

    /// <summary>The W3C trace context header.</summary>
    public const string TraceParent = "traceparent";
}
