namespace Outbox;

/// <summary>What a handler knows about the message it handles, beyond the payload.</summary>
public sealed class MessageContext
{
    /// <summary>The name of the consumer handling the message.</summary>
    public required string Consumer { get; init; }

    /// <summary>The message id: stable across redeliveries, the key of the inbox.</summary>
    public required Guid MessageId { get; init; }

    /// <summary>The logical message type name the handler was chosen by.</summary>
    public required string MessageType { get; init; }

    /// <summary>The partition key the message was published with, or <see langword="null"/>.</summary>
    public string? PartitionKey { get; init; }

    /// <summary>The message's number within its partition key, when the publisher set one.</summary>
    public long? SequenceNumber { get; init; }

    /// <summary>The payload's content type, when the transport carried one.</summary>
    public string? ContentType { get; init; }

    /// <summary>The headers carried with the message (user and library headers).</summary>
    public IReadOnlyDictionary<string, string> Headers { get; init; } = IncomingMessage.NoHeaders;

    /// <summary>The W3C <c>traceparent</c> of the publishing activity, when there was one.</summary>
    public string? TraceParent { get; init; }

    /// <summary>Which in-process attempt this is for the current delivery, starting at 1.</summary>
    public int DeliveryAttempt { get; init; } = 1;

    /// <summary>
    /// Whether the transport says the message was delivered before (to this or another consumer instance). A
    /// redelivered message that was already processed never reaches the handler: the inbox skips it.
    /// </summary>
    public bool Redelivered { get; init; }
}
