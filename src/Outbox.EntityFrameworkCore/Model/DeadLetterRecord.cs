namespace Outbox.EntityFrameworkCore;

/// <summary>
/// A row of the dead-letter table: a message the dispatcher gave up on, with the reason. Mapped by
/// <c>modelBuilder.AddOutbox()</c>.
/// </summary>
public sealed class DeadLetterRecord
{
    /// <summary>The position the message had in the outbox. Column <c>id</c>.</summary>
    public long Id { get; set; }

    /// <summary>The message id. Column <c>message_id</c>.</summary>
    public Guid MessageId { get; set; }

    /// <summary>The destination. Column <c>destination</c>.</summary>
    public string Destination { get; set; } = "";

    /// <summary>The logical message type. Column <c>message_type</c>.</summary>
    public string MessageType { get; set; } = "";

    /// <summary>The partition key. Column <c>partition_key</c>.</summary>
    public string? PartitionKey { get; set; }

    /// <summary>The number of the message within its partition key (1, 2, 3, ...), assigned in the publishing transaction. Column <c>sequence_number</c>.</summary>
    public long? SequenceNumber { get; set; }

    /// <summary>The serialized payload. Column <c>payload</c>.</summary>
    public byte[] Payload { get; set; } = [];

    /// <summary>The payload's content type. Column <c>content_type</c>.</summary>
    public string ContentType { get; set; } = "";

    /// <summary>User headers as a JSON object. Column <c>headers</c>.</summary>
    public string? Headers { get; set; }

    /// <summary>The W3C traceparent of the publisher. Column <c>trace_parent</c>.</summary>
    public string? TraceParent { get; set; }

    /// <summary>When the message was published (UTC). Column <c>created_at</c>.</summary>
    public DateTime CreatedAt { get; set; }

    /// <summary>How many times it was claimed. Column <c>attempts</c>.</summary>
    public int Attempts { get; set; }

    /// <summary>Why it was dead-lettered. Column <c>reason</c>.</summary>
    public string Reason { get; set; } = "";

    /// <summary>When it was dead-lettered (database clock, UTC). Column <c>dead_lettered_at</c>.</summary>
    public DateTime DeadLetteredAt { get; set; }
}
