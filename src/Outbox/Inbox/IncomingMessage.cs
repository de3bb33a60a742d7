using System.Collections.ObjectModel;

namespace Outbox;

/// <summary>
/// A message as a transport received it, before the inbox has looked at it. Transports fill in what they carry;
/// the inbox decides whether the message is usable (a missing or malformed id or type makes it poison).
/// </summary>
public sealed record IncomingMessage
{
    internal static readonly IReadOnlyDictionary<string, string> NoHeaders =
        new ReadOnlyDictionary<string, string>(new Dictionary<string, string>());

    /// <summary>The message id as carried by the transport (a GUID in text form), or <see langword="null"/> when missing.</summary>
    public string? MessageId { get; init; }

    /// <summary>The logical message type name (the <c>outbox-message-type</c> header), or <see langword="null"/> when missing.</summary>
    public string? MessageType { get; init; }

    /// <summary>The partition key, or <see langword="null"/>.</summary>
    public string? PartitionKey { get; init; }

    /// <summary>The per-key sequence number, or <see langword="null"/>.</summary>
    public long? SequenceNumber { get; init; }

    /// <summary>
    /// The tenant the message belongs to (the <c>outbox-tenant</c> header, set by a database-per-tenant outbox), or
    /// <see langword="null"/>. The inbox makes it the <see cref="OutboxTenantContext"/> of the scope it processes the message in.
    /// </summary>
    public string? TenantId => Headers.GetValueOrDefault(OutboxHeaders.Tenant);

    /// <summary>Every header the transport carried, as text.</summary>
    public IReadOnlyDictionary<string, string> Headers { get; init; } = NoHeaders;

    /// <summary>The serialized payload.</summary>
    public ReadOnlyMemory<byte> Payload { get; init; }

    /// <summary>The payload's content type, or <see langword="null"/> when the transport carried none.</summary>
    public string? ContentType { get; init; }

    /// <summary>The W3C <c>traceparent</c>, or <see langword="null"/>.</summary>
    public string? TraceParent { get; init; }

    /// <summary>Whether the transport flags the message as delivered before.</summary>
    public bool Redelivered { get; init; }

    /// <summary>
    /// Which in-process attempt this is, starting at 1. Set by the inbox's retry loop.
    /// <value>The default value is 1.</value>
    /// </summary>
    public int DeliveryAttempt { get; init; } = 1;

    /// <summary>
    /// When this process first received the delivery (UTC); stored as the inbox row's <c>received_at</c>.
    /// <value>The default value is <see langword="null"/>: the time the inbox records it.</value>
    /// </summary>
    public DateTimeOffset? ReceivedAt { get; init; }

    /// <summary>
    /// Set by the receiver once a message has waited <see cref="InboxConsumerOptions.OrderGapTimeout"/> for its
    /// predecessor: it is then processed despite the gap (which is counted and logged).
    /// </summary>
    internal bool AcceptGap { get; init; }
}
