using Microsoft.Extensions.Logging;

namespace Outbox.ActiveMQ;

/// <summary>Structured log events of the ActiveMQ transport and consumers (event ids 5000-5999). Payloads are never logged.</summary>
internal static partial class ActiveMqLog
{
    [LoggerMessage(EventId = 7001, Level = LogLevel.Information, Message = "STOMP connection {Connection} opened to {Endpoint} ({Server}).")]
    public static partial void Connected(ILogger logger, string connection, string endpoint, string? server);

    [LoggerMessage(EventId = 7002, Level = LogLevel.Warning, Message = "STOMP connection {Connection} to {Endpoint} failed; the next attempt is in {Delay} at the earliest.")]
    public static partial void ConnectFailed(ILogger logger, Exception exception, string connection, string endpoint, TimeSpan delay);

    [LoggerMessage(EventId = 7003, Level = LogLevel.Warning, Message = "ActiveMQ publisher connection {Slot} lost ({Reason}); it is opened again on the next send.")]
    public static partial void PublisherConnectionLost(ILogger logger, int slot, string reason);

    [LoggerMessage(EventId = 7004, Level = LogLevel.Warning, Message = "ActiveMQ publisher connection {Slot} retired after {Error}; a new one replaces it.")]
    public static partial void ConnectionRetired(ILogger logger, int slot, string error);

    [LoggerMessage(EventId = 7010, Level = LogLevel.Information, Message = "Consumer {Consumer} subscribed to {Destination} (prefetch {Prefetch}, {Concurrency} at a time).")]
    public static partial void ConsumerStarted(ILogger logger, string consumer, string destination, int prefetch, int concurrency);

    [LoggerMessage(EventId = 7011, Level = LogLevel.Warning, Message = "Consumer {Consumer} lost its connection ({Reason}); reconnecting. {LostAcknowledgements} acknowledgement(s) could not be sent: those messages come again and the inbox skips them.")]
    public static partial void ConsumerSessionEnded(ILogger logger, string consumer, string reason, int lostAcknowledgements);

    [LoggerMessage(EventId = 7012, Level = LogLevel.Error, Message = "Consumer {Consumer} could not consume; trying again in {Delay}.")]
    public static partial void ConsumerFailed(ILogger logger, Exception exception, string consumer, TimeSpan delay);

    [LoggerMessage(EventId = 7014, Level = LogLevel.Error, Message = "Consumer {Consumer}: processing message {MessageId} failed unexpectedly; it goes back to the queue.")]
    public static partial void ReceiveFailed(ILogger logger, Exception exception, string consumer, string? messageId);

    [LoggerMessage(EventId = 7016, Level = LogLevel.Error, Message = "Consumer {Consumer}: message {MessageId} was refused, not dead-lettered: the consumer's inbox dead letters are full (InboxConsumerOptions.MaxDeadLetters). It is NACKed, so the broker moves it to its dead-letter queue (ActiveMQ.DLQ unless configured otherwise).")]
    public static partial void Refused(ILogger logger, string consumer, string? messageId);

    [LoggerMessage(EventId = 7015, Level = LogLevel.Information, Message = "Consumer {Consumer} stopped; {InFlight} message(s) still in flight were left to be redelivered.")]
    public static partial void ConsumerStopped(ILogger logger, string consumer, int inFlight);
}
