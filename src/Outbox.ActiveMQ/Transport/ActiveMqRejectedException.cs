namespace Outbox.ActiveMQ;

/// <summary>
/// The broker answered a send with an ERROR frame for that message alone (its <c>receipt-id</c> named it): not
/// authorised for the destination, refused by a broker plugin, over a limit. It is a <see cref="MessageRejectedException"/>:
/// a failure of the message, not of the broker. The message spends an attempt and is retried after its own backoff, then
/// dead-lettered after its maximum attempts with the broker's reason; it never opens a circuit breaker.
/// </summary>
public sealed class ActiveMqRejectedException : MessageRejectedException
{
    /// <summary>Creates the exception.</summary>
    public ActiveMqRejectedException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public ActiveMqRejectedException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the underlying error.</summary>
    public ActiveMqRejectedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
