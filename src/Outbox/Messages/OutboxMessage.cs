namespace Outbox;

/// <summary>
/// A message claimed from the outbox, as the dispatcher hands it to an <see cref="IMessageTransport"/>.
/// </summary>
public sealed class OutboxMessage
{
    /// <summary>The store's position of the row: its primary key, in write order. Used to acknowledge the row.</summary>
    public required long Position { get; init; }

    /// <summary>The message id, unique per message and stable across redeliveries (consumers de-duplicate on it).</summary>
    public required Guid MessageId { get; init; }

    /// <summary>Where the message goes; its meaning belongs to the transport (exchange, queue, URL).</summary>
    public required string Destination { get; init; }

    /// <summary>The logical message type name consumers use to pick a handler.</summary>
    public required string MessageType { get; init; }

    /// <summary>The partition key: messages sharing it are ordered. <see langword="null"/> when unordered.</summary>
    public string? PartitionKey { get; init; }

    /// <summary>
    /// The message's number within its partition key (1, 2, 3, ... in write order), so a consumer can see a gap or a
    /// reordering. <see langword="null"/> for messages without a key.
    /// </summary>
    public long? SequenceNumber { get; init; }

    /// <summary>
    /// The serialized payload. Empty when the store left out a payload above
    /// <see cref="OutboxDispatcherOptions.MaxPayloadSize"/> (see <see cref="PayloadSize"/>).
    /// </summary>
    public required ReadOnlyMemory<byte> Payload { get; init; }

    /// <summary>
    /// The payload's size in bytes as the store holds it, or 0 when the store does not say (then
    /// <see cref="Payload"/>'s length is the size). A relational store reads the size in the claim and leaves out a
    /// payload above <see cref="OutboxDispatcherOptions.MaxPayloadSize"/>, so a row that got into the table anyway
    /// (written by SQL, or the limit lowered since) is never loaded whole: the dispatcher dead-letters it, unsent,
    /// with the size and the limit in its reason.
    /// </summary>
    public long PayloadSize { get; init; }

    /// <summary>The payload's content type, for example <c>application/json</c>.</summary>
    public required string ContentType { get; init; }

    /// <summary>User and library headers carried with the message.</summary>
    public IReadOnlyDictionary<string, string> Headers { get; init; } = EmptyHeaders;

    /// <summary>When the message was published (UTC).</summary>
    public DateTimeOffset CreatedAt { get; init; }

    /// <summary>The W3C <c>traceparent</c> of the publishing activity, when there was one.</summary>
    public string? TraceParent { get; init; }

    /// <summary>Which delivery attempt this is, starting at 1. Incremented every time the row is claimed.</summary>
    public int Attempt { get; init; }

    /// <summary>
    /// The tenant whose database the message was claimed from, for a database-per-tenant outbox
    /// (<see cref="IOutboxDatabaseSource"/>); transports carry it as the <c>outbox-tenant</c> header, so a consumer can
    /// write its inbox to that tenant's database. <see langword="null"/> otherwise.
    /// </summary>
    public string? TenantId { get; init; }

    /// <summary>This message, claimed from tenant <paramref name="tenantId"/>'s database.</summary>
    internal OutboxMessage WithTenant(string tenantId) => new()
    {
        Position = Position,
        MessageId = MessageId,
        Destination = Destination,
        MessageType = MessageType,
        PartitionKey = PartitionKey,
        SequenceNumber = SequenceNumber,
        Payload = Payload,
        PayloadSize = PayloadSize,
        ContentType = ContentType,
        Headers = Headers,
        CreatedAt = CreatedAt,
        TraceParent = TraceParent,
        Attempt = Attempt,
        TenantId = tenantId,
    };

    internal static readonly IReadOnlyDictionary<string, string> EmptyHeaders =
        new System.Collections.ObjectModel.ReadOnlyDictionary<string, string>(new Dictionary<string, string>());
}
