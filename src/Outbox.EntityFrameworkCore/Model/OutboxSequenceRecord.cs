namespace Outbox.EntityFrameworkCore;

/// <summary>
/// The last sequence number given to a partition key. Publishing a keyed message increments it in the publishing
/// transaction, which also serializes concurrent publishers of the same key: their messages commit in sequence order.
/// </summary>
public sealed class OutboxSequenceRecord
{
    /// <summary>The partition key. Column <c>partition_key</c>.</summary>
    public string PartitionKey { get; set; } = "";

    /// <summary>The last number given. Column <c>last_sequence</c>.</summary>
    public long LastSequence { get; set; }
}
