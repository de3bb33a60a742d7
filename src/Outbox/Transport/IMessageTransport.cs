namespace Outbox;

/// <summary>
/// Sends claimed outbox messages to a broker or endpoint. The dispatcher calls it outside any database transaction,
/// for the messages of one batch concurrently.
/// </summary>
public interface IMessageTransport
{
    /// <summary>
    /// Sends one message and returns once the receiving side has taken responsibility for it (a publisher confirm,
    /// an HTTP 2xx). Throw to report a failure: the message is retried with backoff, or dead-lettered at once when
    /// the exception is a <see cref="PermanentDeliveryException"/>.
    /// </summary>
    Task SendAsync(OutboxMessage message, CancellationToken cancellationToken);
}
