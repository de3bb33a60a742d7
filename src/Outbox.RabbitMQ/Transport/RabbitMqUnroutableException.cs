namespace Outbox.RabbitMQ;

/// <summary>
/// The broker could not route a published message: no queue is bound for its routing key (the mandatory message came
/// back with <c>basic.return</c>), or its exchange does not exist. The send counts as failed and the dispatcher retries
/// it with backoff, then dead-letters it after its maximum attempts.
/// </summary>
public sealed class RabbitMqUnroutableException : Exception
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
