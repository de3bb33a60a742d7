namespace Outbox;

/// <summary>What a transport must do with a delivery once the inbox is done with it.</summary>
public enum ReceiveDisposition
{
    /// <summary>Acknowledge: the message is processed, skipped as a duplicate, or safely dead-lettered.</summary>
    Acknowledge,

    /// <summary>Give it back to the broker to be delivered again (the inbox could not record an outcome).</summary>
    Requeue,
}

/// <summary>
/// The entry point for transports: runs a delivery through the consumer's <see cref="IInboxProcessor"/> with the
/// consumer's retry policy (<see cref="InboxConsumerOptions"/>) and says whether to acknowledge or requeue it.
/// </summary>
public interface IInboxReceiver
{
    /// <summary>
    /// Processes <paramref name="message"/> for <paramref name="consumer"/>: retries a failing handler in process with
    /// backoff, dead-letters it after <see cref="InboxConsumerOptions.MaxAttempts"/> (or at once when it is poison), and
    /// returns <see cref="ReceiveDisposition.Requeue"/> only when not even the dead letter could be written.
    /// Throws <see cref="OperationCanceledException"/> when <paramref name="cancellationToken"/> is cancelled; the
    /// transport should then leave the message to be redelivered.
    /// </summary>
    Task<ReceiveDisposition> ReceiveAsync(string consumer, IncomingMessage message, CancellationToken cancellationToken);
}
