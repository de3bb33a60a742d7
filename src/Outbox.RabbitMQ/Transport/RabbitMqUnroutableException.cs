namespace Outbox.RabbitMQ;

/// <summary>
/// The broker could not route a published message: no queue is bound for its routing key (the mandatory message came
/// back with <c>basic.return</c>, e.g. <c>312 NO_ROUTE</c>), or its exchange does not exist. It is a
/// <see cref="MessageRejectedException"/>: a failure of the message, not of the broker. The message spends an attempt
/// and is retried after its own backoff (a queue may be bound meanwhile), then dead-lettered after its maximum attempts
/// with this reason; it never opens a circuit breaker, so messages to other exchanges and routing keys go on.
/// </summary>
public sealed class RabbitMqUnroutableException : MessageRejectedException
{
    /// <summary>Creates the exception.</summary>
    public RabbitMqUnroutableException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public RabbitMqUnroutableException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the underlying error.</summary>
    public RabbitMqUnroutableException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
