namespace Outbox;

/// <summary>
/// Handles one message type for a consumer. Registered with <c>OutboxConsumerBuilder.AddHandler</c> and resolved from a
/// new DI scope per message, so it may take the consumer's scoped <c>DbContext</c> in its constructor: its writes are
/// saved and committed in the same transaction as the inbox row that marks the message processed.
/// </summary>
/// <typeparam name="TMessage">The message type, as deserialized from the payload.</typeparam>
public interface IMessageHandler<in TMessage>
    where TMessage : notnull
{
    /// <summary>
    /// Handles <paramref name="message"/>. Do not call <c>SaveChanges</c> or commit yourself unless you need to: the
    /// inbox saves the scoped context and commits once this returns. Throw to fail: every write of this attempt is
    /// rolled back and the message is retried, then dead-lettered. (A <c>SaveChanges</c> of yours that fails fails the
    /// attempt as a whole: the inbox runs without EF's automatic savepoints.)
    /// </summary>
    Task HandleAsync(TMessage message, MessageContext context, CancellationToken cancellationToken);
}
