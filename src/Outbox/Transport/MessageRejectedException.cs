namespace Outbox;

/// <summary>
/// Thrown by a transport when the endpoint is up and answered, but refused this one message: no route for it, too
/// large, refused by the receiver. It is a failure of the message, not of the endpoint: the message uses an attempt,
/// is retried after its own backoff and dead-lettered after <see cref="OutboxDispatcherOptions.MaxAttempts"/> with this
/// exception's message as the reason; it is not retried at once and never counts towards a destination's circuit
/// breaker, so it cannot hold up other messages. Throw the derived <see cref="PermanentDeliveryException"/> when
/// retrying can never help: the message is then dead-lettered at once.
/// </summary>
/// <remarks>
/// Any other exception from <see cref="IMessageTransport.SendAsync"/> (connection refused, a timeout, a 5xx, the broker
/// down) is taken as a failure of the endpoint: it is retried, counts towards the circuit breaker of the message's
/// destination and, once that opens, pauses that destination only.
/// </remarks>
public class MessageRejectedException : Exception
{
    /// <summary>Creates the exception.</summary>
    public MessageRejectedException()
    {
    }

    /// <summary>Creates the exception with a reason.</summary>
    public MessageRejectedException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a reason and the underlying error.</summary>
    public MessageRejectedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>
    /// Whether retrying can never deliver the message, so that it is dead-lettered at once.
    /// <value>The default value is <see langword="false"/>; <see cref="PermanentDeliveryException"/> answers <see langword="true"/>.</value>
    /// </summary>
    public virtual bool IsPermanent => false;
}
