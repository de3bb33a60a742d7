namespace Outbox.EntityFrameworkCore;

/// <summary>
/// The head-of-line rule shared by the relational claims: a keyed message may be claimed only when no earlier message
/// of its key is still in the outbox (pending, leased, scheduled or waiting for a retry). Messages leave the outbox
/// only when delivered or dead-lettered, so a stale snapshot can only make a claimer more cautious, never let it
/// claim a message whose predecessor is still in flight: per-key order holds with any number of dispatchers.
/// </summary>
public static class OutboxOrderingSql
{
    /// <summary>
    /// The condition on outbox alias <c>t</c>; <paramref name="outbox"/> and <paramref name="deadLetters"/> are the
    /// delimited tables.
    /// </summary>
    public static string HeadOfLine(string outbox, string deadLetters, PartitionDeadLetterPolicy afterDeadLetter)
    {
        var head = $"NOT EXISTS (SELECT 1 FROM {outbox} AS p WHERE p.partition_key = t.partition_key AND p.sequence_number < t.sequence_number)";
        if (afterDeadLetter == PartitionDeadLetterPolicy.Hold)
        {
            head += $" AND NOT EXISTS (SELECT 1 FROM {deadLetters} AS dl WHERE dl.partition_key = t.partition_key)";
        }

        return $"(t.partition_key IS NULL OR ({head}))";
    }
}
