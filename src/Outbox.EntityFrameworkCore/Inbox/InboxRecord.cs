namespace Outbox.EntityFrameworkCore;

/// <summary>
/// A row of the inbox table, mapped by <c>modelBuilder.AddInbox()</c>: this consumer has handled this message id.
/// Written by the inbox in the same transaction as the handler's own writes; removed by the retention cleanup.
/// </summary>
public sealed class InboxRecord
{
    /// <summary>The consumer name. Column <c>consumer</c>, first half of the primary key.</summary>
    public string Consumer { get; set; } = "";

    /// <summary>The message id. Column <c>message_id</c>, second half of the primary key.</summary>
    public Guid MessageId { get; set; }

    /// <summary>When this process first received the delivery (UTC). Column <c>received_at</c>; the retention cleanup deletes by it.</summary>
    public DateTime ReceivedAt { get; set; }

    /// <summary>
    /// When the handler's transaction wrote the row (UTC), or <see langword="null"/> when the message was dead-lettered
    /// instead of processed. Column <c>processed_at</c>.
    /// </summary>
    public DateTime? ProcessedAt { get; set; }
}
