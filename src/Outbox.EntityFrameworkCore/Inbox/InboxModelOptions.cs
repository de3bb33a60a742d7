namespace Outbox.EntityFrameworkCore;

/// <summary>Names of the inbox tables, given to <c>modelBuilder.AddInbox()</c>.</summary>
public sealed class InboxModelOptions
{
    /// <summary>
    /// The schema of the inbox tables. Ignored by SQLite.
    /// <value>The default value is <see langword="null"/>: the model's default schema.</value>
    /// </summary>
    public string? Schema { get; set; }

    /// <summary>
    /// The inbox table's name.
    /// <value>The default value is <c>inbox_messages</c>.</value>
    /// </summary>
    public string InboxTable { get; set; } = "inbox_messages";

    /// <summary>
    /// The inbox dead-letter table's name.
    /// <value>The default value is <c>inbox_dead_letters</c>.</value>
    /// </summary>
    public string DeadLetterTable { get; set; } = "inbox_dead_letters";

    /// <summary>
    /// The table of the last sequence number processed per consumer and partition key (handlers that enforce order).
    /// <value>The default value is <c>inbox_sequences</c>.</value>
    /// </summary>
    public string SequenceTable { get; set; } = "inbox_sequences";
}
