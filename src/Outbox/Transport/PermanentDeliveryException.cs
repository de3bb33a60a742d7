namespace Outbox;

/// <summary>
/// Thrown by a transport when a message can never be delivered (oversized, rejected as malformed, no URL for its
/// destination): a <see cref="MessageRejectedException"/> that retrying cannot fix. The dispatcher dead-letters the
/// message at once with this exception's message as the reason; it never counts towards a circuit breaker.
/// </summary>
public sealed class PermanentDeliveryException : MessageRejectedException
{
    /// <summary>Creates the exception.</summary>
    public PermanentDeliveryException()
    {
    }

    /// <summary>Creates the exception with a reason.</summary>
    public PermanentDeliveryException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a reason and the underlying error.</summary>
    public PermanentDeliveryException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>
    /// Always <see langword="true"/>: the message is dead-lettered at once.
    /// <value>The value is always <see langword="true"/>.</value>
    /// </summary>
    public override bool IsPermanent => true;
}
