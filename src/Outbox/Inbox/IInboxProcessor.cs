namespace Outbox;

/// <summary>
/// Processes received messages exactly once per consumer: records the message id in the inbox and runs the handler in
/// one transaction. Registered per consumer (a keyed service, the key being the consumer name) by the store package,
/// for example <c>AddOutboxConsumer&lt;TContext&gt;(...)</c> in Outbox.EntityFrameworkCore.
/// </summary>
public interface IInboxProcessor
{
    /// <summary>
    /// Processes one attempt of <paramref name="message"/> for <paramref name="consumer"/>. A poison message (no or
    /// malformed id, unknown type, undeserializable payload) is dead-lettered at once. Never throws for a failure of
    /// the message or the store: the outcome says what happened. Throws <see cref="OperationCanceledException"/> when
    /// <paramref name="cancellationToken"/> is cancelled.
    /// </summary>
    Task<InboxOutcome> ProcessAsync(string consumer, IncomingMessage message, CancellationToken cancellationToken);

    /// <summary>
    /// Processes <paramref name="messages"/> together, all or nothing, in delivery order: one transaction that records
    /// each message and runs its handler (a message already handled is skipped as a duplicate). Returns one outcome per
    /// message, each <see cref="InboxOutcome.Processed"/> or <see cref="InboxOutcome.Duplicate"/>, when the batch
    /// committed; returns <see langword="null"/> when it did not (a poison message, a failing handler, a message out of
    /// order, a store failure): then nothing of the batch was kept and the caller processes the messages one at a time
    /// with <see cref="ProcessAsync"/>. Throws <see cref="OperationCanceledException"/> when
    /// <paramref name="cancellationToken"/> is cancelled. The default implementation does not batch: it returns
    /// <see langword="null"/>. A decorator must forward this method too, or batching silently turns off. Unlike
    /// <see cref="ProcessAsync"/>, whose caller opens the consumer span, this opens each message's span itself, around
    /// that message's handler.
    /// </summary>
    Task<IReadOnlyList<InboxOutcome>?> ProcessBatchAsync(string consumer, IReadOnlyList<IncomingMessage> messages, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<InboxOutcome>?>(null);

    /// <summary>
    /// Writes <paramref name="message"/> to the inbox dead-letter table with <paramref name="reason"/>, in a transaction
    /// of its own that also marks the id as handled, so a redelivery is skipped. Returns
    /// <see cref="InboxOutcome.Duplicate"/> when the id was already handled.
    /// </summary>
    /// <exception cref="Exception">The store failed; the message was not dead-lettered.</exception>
    Task<InboxOutcome> DeadLetterAsync(string consumer, IncomingMessage message, string reason, int attempts, CancellationToken cancellationToken);
}
