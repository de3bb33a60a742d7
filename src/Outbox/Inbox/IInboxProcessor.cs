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
    /// Writes <paramref name="message"/> to the inbox dead-letter table with <paramref name="reason"/>, in a transaction
    /// of its own that also marks the id as handled, so a redelivery is skipped. Returns
    /// <see cref="InboxOutcome.Duplicate"/> when the id was already handled.
    /// </summary>
    /// <exception cref="Exception">The store failed; the message was not dead-lettered.</exception>
    Task<InboxOutcome> DeadLetterAsync(string consumer, IncomingMessage message, string reason, int attempts, CancellationToken cancellationToken);
}
