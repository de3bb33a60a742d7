namespace Outbox;

/// <summary>What became of one attempt to process a message through the inbox.</summary>
public enum InboxOutcomeKind
{
    /// <summary>The handler ran and its writes committed together with the inbox row.</summary>
    Processed,

    /// <summary>The inbox already held the message id: the handler was skipped.</summary>
    Duplicate,

    /// <summary>The handler (or saving its writes) failed; everything it wrote was rolled back.</summary>
    Failed,

    /// <summary>The message was written to the inbox dead-letter table with its reason.</summary>
    DeadLettered,

    /// <summary>
    /// The inbox store could not be reached before the handler ran (database down): the message is not at fault and
    /// the attempt does not count against it.
    /// </summary>
    Unavailable,

    /// <summary>
    /// The handler enforces per-key order and the message came ahead of its predecessor (a gap in the sequence
    /// numbers): nothing was written, and the message should come back after the one it waits for.
    /// </summary>
    OutOfOrder,

    /// <summary>
    /// The message was to be dead-lettered, but the consumer already holds
    /// <see cref="InboxConsumerOptions.MaxDeadLetters"/> dead letters: nothing was written, and the transport refuses
    /// the delivery for good (<see cref="ReceiveDisposition.Reject"/>).
    /// </summary>
    Refused,
}

/// <summary>
/// The result of <see cref="IInboxProcessor.ProcessAsync"/>: processed, duplicate, failed (with the error and whether a
/// retry may help), dead-lettered (with the reason) or store unavailable.
/// </summary>
public sealed class InboxOutcome
{
    private InboxOutcome(InboxOutcomeKind kind, Exception? exception, bool retryable, string? reason)
    {
        Kind = kind;
        Exception = exception;
        Retryable = retryable;
        Reason = reason;
    }

    /// <summary>The handler ran and committed.</summary>
    public static InboxOutcome Processed { get; } = new(InboxOutcomeKind.Processed, null, false, null);

    /// <summary>Already processed (or dead-lettered) before: skipped.</summary>
    public static InboxOutcome Duplicate { get; } = new(InboxOutcomeKind.Duplicate, null, false, null);

    /// <summary>What happened.</summary>
    public InboxOutcomeKind Kind { get; }

    /// <summary>The error, for <see cref="InboxOutcomeKind.Failed"/> and <see cref="InboxOutcomeKind.Unavailable"/>.</summary>
    public Exception? Exception { get; }

    /// <summary>For <see cref="InboxOutcomeKind.Failed"/>: whether trying the message again may succeed.</summary>
    public bool Retryable { get; }

    /// <summary>For <see cref="InboxOutcomeKind.OutOfOrder"/>: the sequence number the key is waiting for.</summary>
    public long? ExpectedSequence { get; private init; }

    /// <summary>For <see cref="InboxOutcomeKind.DeadLettered"/> and <see cref="InboxOutcomeKind.Refused"/>: why.</summary>
    public string? Reason { get; }

    /// <summary>The handler failed; its writes were rolled back.</summary>
    public static InboxOutcome Failed(Exception exception, bool retryable)
    {
        ArgumentNullException.ThrowIfNull(exception);
        return new(InboxOutcomeKind.Failed, exception, retryable, null);
    }

    /// <summary>The message was dead-lettered with <paramref name="reason"/>.</summary>
    public static InboxOutcome DeadLettered(string reason)
    {
        ArgumentException.ThrowIfNullOrEmpty(reason);
        return new(InboxOutcomeKind.DeadLettered, null, false, reason);
    }

    /// <summary>The message was not dead-lettered, nor recorded at all, because the consumer's dead letters are full.</summary>
    public static InboxOutcome Refused(string reason)
    {
        ArgumentException.ThrowIfNullOrEmpty(reason);
        return new(InboxOutcomeKind.Refused, null, false, reason);
    }

    /// <summary>The message came ahead of sequence number <paramref name="expectedSequence"/> of its key.</summary>
    public static InboxOutcome OutOfOrder(long expectedSequence) =>
        new(InboxOutcomeKind.OutOfOrder, null, true, null) { ExpectedSequence = expectedSequence };

    /// <summary>The store could not be reached before the handler ran.</summary>
    public static InboxOutcome Unavailable(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        return new(InboxOutcomeKind.Unavailable, exception, true, null);
    }

    /// <inheritdoc />
    public override string ToString() => Kind switch
    {
        InboxOutcomeKind.Failed => $"Failed ({(Retryable ? "retryable" : "not retryable")}): {Exception!.Message}",
        InboxOutcomeKind.DeadLettered => $"DeadLettered: {Reason}",
        InboxOutcomeKind.Refused => $"Refused: {Reason}",
        InboxOutcomeKind.Unavailable => $"Unavailable: {Exception!.Message}",
        InboxOutcomeKind.OutOfOrder => $"OutOfOrder: waiting for sequence {ExpectedSequence}",
        _ => Kind.ToString(),
    };
}
