namespace Outbox;

/// <summary>
/// Thrown by a transport when a message can never be delivered (oversized, rejected as malformed, no route that
/// retrying would fix). The dispatcher dead-letters the message at once with this exception's message as the reason.
/// </summary>
public sealed class PermanentDeliveryException : Exception
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
}
