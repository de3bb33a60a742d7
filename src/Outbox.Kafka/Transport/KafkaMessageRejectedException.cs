using Confluent.Kafka;

namespace Outbox.Kafka;

/// <summary>
/// The cluster answered for this one message and refused it: its topic does not exist or may not be written, or the
/// record is too large or invalid. It is a <see cref="MessageRejectedException"/>: a failure of the message, not of the
/// cluster, so it never opens a destination's circuit breaker. <see cref="IsPermanent"/> says whether a retry could
/// ever help (a missing topic may be created meanwhile; an oversized record stays oversized).
/// </summary>
public sealed class KafkaMessageRejectedException : MessageRejectedException
{
    private readonly bool _permanent;

    /// <summary>Creates the exception.</summary>
    public KafkaMessageRejectedException()
    {
    }

    /// <summary>Creates the exception with a reason.</summary>
    public KafkaMessageRejectedException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a reason and the underlying error.</summary>
    public KafkaMessageRejectedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    internal KafkaMessageRejectedException(string message, ErrorCode code, bool permanent, Exception? innerException)
        : base(message, innerException ?? new KafkaException(code))
    {
        Code = code;
        _permanent = permanent;
    }

    /// <summary>
    /// The Kafka error the cluster or client reported.
    /// <value>The default value is <see cref="ErrorCode.Unknown"/>.</value>
    /// </summary>
    public ErrorCode Code { get; } = ErrorCode.Unknown;

    /// <summary>
    /// Whether retrying can never deliver the message (too large, invalid record), so that it is dead-lettered at once.
    /// <value>The default value is <see langword="false"/>.</value>
    /// </summary>
    public override bool IsPermanent => _permanent;
}
