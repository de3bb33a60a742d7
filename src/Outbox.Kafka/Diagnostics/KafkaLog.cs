using Confluent.Kafka;
using Microsoft.Extensions.Logging;

namespace Outbox.Kafka;

/// <summary>Structured log events of the Kafka transport and consumers (event ids 5000-5999). Payloads are never logged.</summary>
internal static partial class KafkaLog
{
    [LoggerMessage(EventId = 6001, Level = LogLevel.Information, Message = "Kafka producer created for {BootstrapServers} (idempotent, acks=all).")]
    public static partial void ProducerCreated(ILogger logger, string bootstrapServers);

    [LoggerMessage(EventId = 6002, Level = LogLevel.Warning, Message = "Kafka {Client} error {Code}: {Reason} (fatal: {Fatal}).")]
    public static partial void ClientError(ILogger logger, string client, ErrorCode code, string reason, bool fatal);

    [LoggerMessage(EventId = 6003, Level = LogLevel.Debug, Message = "librdkafka {Client} [{Facility}] {Message}")]
    public static partial void ClientLog(ILogger logger, string client, string facility, string message);

    [LoggerMessage(EventId = 6004, Level = LogLevel.Error, Message = "Kafka producer hit fatal error {Code} ({Reason}); it is replaced on the next send.")]
    public static partial void ProducerFatal(ILogger logger, ErrorCode code, string reason);

    [LoggerMessage(EventId = 6005, Level = LogLevel.Warning, Message = "Kafka producer closed ({Reason}) with {Left} record(s) still unconfirmed after {Timeout}; the dispatcher sends them again.")]
    public static partial void ProducerFlushIncomplete(ILogger logger, int left, TimeSpan timeout, string reason);

    [LoggerMessage(EventId = 6010, Level = LogLevel.Information, Message = "Consumer {Consumer} joined group {Group} for topic(s) {Topics}.")]
    public static partial void ConsumerStarted(ILogger logger, string consumer, string group, string topics);

    [LoggerMessage(EventId = 6011, Level = LogLevel.Information, Message = "Consumer {Consumer} was assigned {Partitions}.")]
    public static partial void PartitionsAssigned(ILogger logger, string consumer, string partitions);

    [LoggerMessage(EventId = 6012, Level = LogLevel.Information, Message = "Consumer {Consumer} gives up {Partitions} ({How}); {Abandoned} in-flight batch(es) were abandoned and come again to the new owner.")]
    public static partial void PartitionsRevoked(ILogger logger, string consumer, string partitions, string how, int abandoned);

    [LoggerMessage(EventId = 6013, Level = LogLevel.Error, Message = "Consumer {Consumer} failed; it starts again in {Delay}.")]
    public static partial void ConsumerFailed(ILogger logger, Exception exception, string consumer, TimeSpan delay);

    [LoggerMessage(EventId = 6014, Level = LogLevel.Warning, Message = "Consumer {Consumer} could not commit offsets ({Reason}); the messages after the last committed offset come again and the inbox skips them.")]
    public static partial void CommitFailed(ILogger logger, string consumer, string reason);

    [LoggerMessage(EventId = 6015, Level = LogLevel.Error, Message = "Consumer {Consumer}: processing message {MessageId} failed unexpectedly; partition {Partition} is read again from it.")]
    public static partial void ReceiveFailed(ILogger logger, Exception exception, string consumer, string? messageId, string partition);

    [LoggerMessage(EventId = 6016, Level = LogLevel.Information, Message = "Consumer {Consumer}: the inbox could not record an outcome; partition {Partition} is read again from offset {Offset}.")]
    public static partial void Rewind(ILogger logger, string consumer, string partition, long offset);

    [LoggerMessage(EventId = 6018, Level = LogLevel.Error, Message = "Consumer {Consumer}: message {MessageId} at {Partition} offset {Offset} was refused, not dead-lettered: the consumer's inbox dead letters are full (InboxConsumerOptions.MaxDeadLetters). Its offset is committed past it; the record stays in the topic until the topic's retention removes it, so it can be read again by resetting the group's offset once the dead letters are dealt with.")]
    public static partial void Refused(ILogger logger, string consumer, string? messageId, string partition, long offset);

    [LoggerMessage(EventId = 6017, Level = LogLevel.Information, Message = "Consumer {Consumer} left its group.")]
    public static partial void ConsumerStopped(ILogger logger, string consumer);
}
