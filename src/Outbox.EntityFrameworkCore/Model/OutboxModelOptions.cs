namespace Outbox.EntityFrameworkCore;

/// <summary>Names of the outbox tables, given to <c>modelBuilder.AddOutbox()</c>.</summary>
public sealed class OutboxModelOptions
{
    /// <summary>
    /// The schema of the outbox tables. Ignored by SQLite.
    /// <value>The default value is <see langword="null"/>: the model's default schema.</value>
    /// </summary>
    public string? Schema { get; set; }

    /// <summary>
    /// The outbox table's name.
    /// <value>The default value is <c>outbox_messages</c>.</value>
    /// </summary>
    public string OutboxTable { get; set; } = "outbox_messages";

    /// <summary>
    /// The dead-letter table's name.
    /// <value>The default value is <c>outbox_dead_letters</c>.</value>
    /// </summary>
    public string DeadLetterTable { get; set; } = "outbox_dead_letters";

    /// <summary>
    /// The table holding the last sequence number given to each partition key.
    /// <value>The default value is <c>outbox_sequences</c>.</value>
    /// </summary>
    public string SequenceTable { get; set; } = "outbox_sequences";
}
