using Microsoft.Extensions.Logging;

namespace Outbox.RabbitMQ;

/// <summary>Structured log events of the RabbitMQ transport and consumers (event ids 3000-3999). Payloads are never logged.</summary>
internal static partial class RabbitMqLog
{
    [LoggerMessage(EventId = 3001, Level = LogLevel.Information, Message = "RabbitMQ connection {Connection} opened to {Endpoint}.")]
    public static partial void Connected(ILogger logger, string connection, string endpoint);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Warning, Message = "RabbitMQ connection {Connection} to {Endpoint} failed; the next attempt is in {Delay} at the earliest.")]
    public static partial void ConnectFailed(ILogger logger, Exception exception, string connection, string endpoint, TimeSpan delay);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Warning, Message = "RabbitMQ publisher connection lost ({Reason}); it is opened again on the next send.")]
    public static partial void PublisherConnectionLost(ILogger logger, string reason);

    [LoggerMessage(EventId = 3004, Level = LogLevel.Warning, Message = "RabbitMQ publish channel {Channel} retired after {Error}; a new one replaces it.")]
    public static partial void ChannelRetired(ILogger logger, int channel, string error);

    [LoggerMessage(EventId = 3010, Level = LogLevel.Information, Message = "Consumer {Consumer} consuming queue {Queue} (prefetch {Prefetch}, {Concurrency} at a time).")]
    public static partial void ConsumerStarted(ILogger logger, string consumer, string queue, int prefetch, int concurrency);

    [LoggerMessage(EventId = 3011, Level = LogLevel.Warning, Message = "Consumer {Consumer} lost its channel ({Reason}); reconnecting. {LostAcknowledgements} acknowledgement(s) could not be sent: those messages come again and the inbox skips them.")]
    public static partial void ConsumerSessionEnded(ILogger logger, string consumer, string reason, int lostAcknowledgements);

    [LoggerMessage(EventId = 3012, Level = LogLevel.Error, Message = "Consumer {Consumer} could not consume; trying again in {Delay}.")]
    public static partial void ConsumerFailed(ILogger logger, Exception exception, string consumer, TimeSpan delay);

    [LoggerMessage(EventId = 3013, Level = LogLevel.Debug, Message = "Consumer {Consumer} could not settle delivery {DeliveryTag} of message {MessageId}; the broker redelivers it and the inbox skips it if it was processed.")]
    public static partial void SettleFailed(ILogger logger, Exception exception, string consumer, ulong deliveryTag, string? messageId);

    [LoggerMessage(EventId = 3014, Level = LogLevel.Error, Message = "Consumer {Consumer}: processing message {MessageId} failed unexpectedly; it goes back to the queue.")]
    public static partial void ReceiveFailed(ILogger logger, Exception exception, string consumer, string? messageId);

    [LoggerMessage(EventId = 3015, Level = LogLevel.Information, Message = "Consumer {Consumer} stopped; {InFlight} message(s) still in flight were left to be redelivered.")]
    public static partial void ConsumerStopped(ILogger logger, string consumer, int inFlight);

    [LoggerMessage(EventId = 3100, Level = LogLevel.Information, Message = "Consumer {Consumer} consuming partitioned queue {Queue}: {Partitions} partition queues, a single active consumer each (prefetch {Prefetch} per partition, {Concurrency} at a time).")]
    public static partial void PartitionedConsumerStarted(ILogger logger, string consumer, string queue, int partitions, int prefetch, int concurrency);

    [LoggerMessage(EventId = 3101, Level = LogLevel.Information, Message = "Consumer {Consumer} stopping on partitioned queue {Queue}: messages being processed finish, the rest go back to their partitions in order for the next active consumer.")]
    public static partial void PartitionedConsumerStopping(ILogger logger, string consumer, string queue);
}
