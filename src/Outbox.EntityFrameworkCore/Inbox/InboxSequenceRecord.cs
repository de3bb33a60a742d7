namespace Outbox.EntityFrameworkCore;

/// <summary>
/// The last sequence number a consumer processed for a partition key, kept for handlers that enforce per-key order
/// (<c>AddHandler(enforceOrder: true)</c>). Updated in the same transaction as the handler's writes.
/// </summary>
public sealed class InboxSequenceRecord
{
    /// <summary>The consumer name. Column <c>consumer</c>.</summary>
    public string Consumer { get; set; } = "";

    /// <summary>The partition key. Column <c>partition_key</c>.</summary>
    public string PartitionKey { get; set; } = "";

    /// <summary>The highest sequence number processed. Column <c>last_sequence</c>.</summary>
    public long LastSequence { get; set; }
}
