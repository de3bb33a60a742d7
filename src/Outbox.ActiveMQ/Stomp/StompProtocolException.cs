namespace Outbox.ActiveMQ.Stomp;

/// <summary>
/// The peer broke STOMP 1.2: a malformed frame, an undefined escape, a frame over the size limit. The connection it came
/// on cannot be trusted any more and is closed. It is an <see cref="IOException"/>, so that a send cut short by it is a
/// failure of the endpoint, retried like a lost connection.
/// </summary>
internal sealed class StompProtocolException : IOException
{
    public StompProtocolException(string message)
        : base(message)
    {
    }

    public StompProtocolException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
