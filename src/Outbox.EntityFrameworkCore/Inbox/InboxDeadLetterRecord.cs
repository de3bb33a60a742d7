namespace Outbox.EntityFrameworkCore;

/// <summary>
/// A row of the inbox dead-letter table, mapped by <c>modelBuilder.AddInbox()</c>: a received message a consumer gave up
/// on (poison, or its handler failed every attempt), kept with its payload and the reason.
/// </summary>
public sealed class InboxDeadLetterRecord
{
    /// <summary>A surrogate key in write order. Column <c>id</c>.</summary>
    public long Id { get; set; }

    /// <summary>The consumer name. Column <c>consumer</c>.</summary>
    public string Consumer { get; set; } = "";

    /// <summary>The message id as received (text, as it may be malformed), or <see langword="null"/> when it had none. Column <c>message_id</c>.</summary>
    public string? MessageId { get; set; }

    /// <summary>The logical message type as received. Column <c>message_type</c>.</summary>
    public string? MessageType { get; set; }

    /// <summary>The partition key. Column <c>partition_key</c>.</summary>
    public string? PartitionKey { get; set; }

    /// <summary>The payload, byte for byte. Column <c>payload</c>.</summary>
    public byte[] Payload { get; set; } = [];

    /// <summary>The payload's content type. Column <c>content_type</c>.</summary>
    public string? ContentType { get; set; }

    /// <summary>Every header received, as a JSON object. Column <c>headers</c>.</summary>
    public string? Headers { get; set; }

    /// <summary>The W3C traceparent received. Column <c>trace_parent</c>.</summary>
    public string? TraceParent { get; set; }

    /// <summary>Why the message was dead-lettered. Column <c>reason</c>.</summary>
    public string Reason { get; set; } = "";

    /// <summary>How many times the handler was tried (0 for a poison message it never saw). Column <c>attempts</c>.</summary>
    public int Attempts { get; set; }

    /// <summary>When the consumer first received the delivery (UTC). Column <c>received_at</c>.</summary>
    public DateTime? ReceivedAt { get; set; }

    /// <summary>When it was dead-lettered (UTC). Column <c>dead_lettered_at</c>.</summary>
    public DateTime DeadLetteredAt { get; set; }
}
