namespace Outbox;

/// <summary>What happens to the later messages of a partition key once one of its messages is dead-lettered.</summary>
public enum PartitionDeadLetterPolicy
{
    /// <summary>The key's next message is delivered: the dead letter is a gap the consumer can see in the sequence numbers.</summary>
    Continue = 0,

    /// <summary>
    /// The key's later messages wait until the dead letter is requeued or deleted, so the consumer never sees them
    /// out of order. Other keys are not affected.
    /// </summary>
    Hold = 1,
}
