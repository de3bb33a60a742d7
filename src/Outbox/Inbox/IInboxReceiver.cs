namespace Outbox;

/// <summary>What a transport must do with a delivery once the inbox is done with it.</summary>
public enum ReceiveDisposition
{
    /// <summary>Acknowledge: the message is processed, skipped as a duplicate, or safely dead-lettered.</summary>
    Acknowledge,

    /// <summary>Give it back to the broker to be delivered again (the inbox could not record an outcome).</summary>
    Requeue,

    /// <summary>
    /// Refuse it for good, unrecorded: it was to be dead-lettered but the consumer's dead letters are full
    /// (<see cref="InboxConsumerOptions.MaxDeadLetters"/>). Over HTTP the endpoint answers 422, so the sender keeps the
    /// message in its own dead letters; RabbitMQ rejects it without requeue (to the queue's dead-letter exchange, if it
    /// has one). Never requeue such a delivery: it would come back forever.
    /// </summary>
    Reject,
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
    /// returns <see cref="ReceiveDisposition.Requeue"/> only when not even the dead letter could be written, and
    /// <see cref="ReceiveDisposition.Reject"/> when the consumer's dead letters are full.
    /// Throws <see cref="OperationCanceledException"/> when <paramref name="cancellationToken"/> is cancelled; the
    /// transport should then leave the message to be redelivered.
    /// </summary>
    Task<ReceiveDisposition> ReceiveAsync(string consumer, IncomingMessage message, CancellationToken cancellationToken);

    /// <summary>
    /// Processes several deliveries of <paramref name="consumer"/> that are waiting in order (for one key or lane),
    /// together when the consumer allows it (<see cref="InboxConsumerOptions.MaxBatchSize"/>): one transaction for all,
    /// falling back to <see cref="ReceiveAsync"/> one at a time when the batch fails. Returns one disposition per
    /// message, in order. Once a message must be requeued, the ones after it are not processed and are returned as
    /// <see cref="ReceiveDisposition.Requeue"/> too, so that a transport that keeps order can hand them all back.
    /// The default implementation calls <see cref="ReceiveAsync"/> for each message in turn.
    /// </summary>
    Task<IReadOnlyList<ReceiveDisposition>> ReceiveBatchAsync(string consumer, IReadOnlyList<IncomingMessage> messages, CancellationToken cancellationToken) =>
        ReceiveOneByOneAsync(this, consumer, messages, cancellationToken);

    /// <summary>
    /// <see cref="ReceiveAsync"/> for each message in turn; once one must be requeued, the rest are not processed and
    /// are requeued too.
    /// </summary>
    internal static async Task<IReadOnlyList<ReceiveDisposition>> ReceiveOneByOneAsync(
        IInboxReceiver receiver, string consumer, IReadOnlyList<IncomingMessage> messages, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var dispositions = new ReceiveDisposition[messages.Count];
        var requeue = false;
        for (var i = 0; i < messages.Count; i++)
        {
            dispositions[i] = requeue ? ReceiveDisposition.Requeue : await receiver.ReceiveAsync(consumer, messages[i], cancellationToken).ConfigureAwait(false);
            requeue |= dispositions[i] == ReceiveDisposition.Requeue;
        }

        return dispositions;
    }
}
