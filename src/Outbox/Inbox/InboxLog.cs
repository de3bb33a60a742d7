using Microsoft.Extensions.Logging;

namespace Outbox;

/// <summary>Structured log events of the inbox (event ids 2000-2999). Payloads and headers are never logged.</summary>
internal static partial class InboxLog
{
    [LoggerMessage(EventId = 2001, Level = LogLevel.Warning, Message = "Consumer {Consumer}: message {MessageId} ({MessageType}) failed on attempt {Attempt} of {MaxAttempts}; retrying in {Delay}.")]
    public static partial void HandlerFailed(ILogger logger, Exception exception, string consumer, string? messageId, string? messageType, int attempt, int maxAttempts, TimeSpan delay);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Error, Message = "Consumer {Consumer}: message {MessageId} ({MessageType}) was dead-lettered: {Reason}")]
    public static partial void DeadLettered(ILogger logger, string consumer, string? messageId, string? messageType, string reason);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Debug, Message = "Consumer {Consumer}: message {MessageId} was already processed; skipped.")]
    public static partial void Duplicate(ILogger logger, string consumer, string? messageId);

    [LoggerMessage(EventId = 2004, Level = LogLevel.Warning, Message = "Consumer {Consumer}: the inbox store is unavailable for message {MessageId} (try {Try}); retrying in {Delay}.")]
    public static partial void StoreUnavailable(ILogger logger, Exception exception, string consumer, string? messageId, int @try, TimeSpan delay);

    [LoggerMessage(EventId = 2005, Level = LogLevel.Error, Message = "Consumer {Consumer}: message {MessageId} could not be recorded (dead letter or inbox write failed); it goes back to the broker in {Delay}.")]
    public static partial void Requeued(ILogger logger, Exception exception, string consumer, string? messageId, TimeSpan delay);

    [LoggerMessage(EventId = 2006, Level = LogLevel.Debug, Message = "Consumer {Consumer}: a batch of {Count} messages did not commit (a handler failed, a message was poison or out of order, or the store failed); processing them one by one.")]
    public static partial void BatchFellBack(ILogger logger, string consumer, int count);

    [LoggerMessage(EventId = 2007, Level = LogLevel.Error, Message = "Consumer {Consumer}: message {MessageId} ({MessageType}) was refused, not dead-lettered: {Reason}")]
    public static partial void DeadLettersFull(ILogger logger, string consumer, string? messageId, string? messageType, string reason);

    [LoggerMessage(EventId = 2020, Level = LogLevel.Information, Message = "Consumer {Consumer}: message {MessageId} (key {PartitionKey}, sequence {Sequence}) came ahead of sequence {Expected}; handing it back until its predecessor is processed.")]
    public static partial void OutOfOrder(ILogger logger, string consumer, string? messageId, string? partitionKey, long? sequence, long? expected);

    [LoggerMessage(EventId = 2021, Level = LogLevel.Warning, Message = "Consumer {Consumer}: message {MessageId} (key {PartitionKey}, sequence {Sequence}) waited the order gap timeout for sequence {Expected}; processing it with the gap.")]
    public static partial void GapAccepted(ILogger logger, string consumer, string? messageId, string? partitionKey, long? sequence, long? expected);

    [LoggerMessage(EventId = 2010, Level = LogLevel.Information, Message = "Inbox cleanup of {Table} deleted {Count} row(s) received before {Cutoff:O}.")]
    public static partial void CleanupDeleted(ILogger logger, string table, long count, DateTimeOffset cutoff);

    [LoggerMessage(EventId = 2011, Level = LogLevel.Error, Message = "Inbox cleanup of {Context} failed; trying again in {Delay}.")]
    public static partial void CleanupFailed(ILogger logger, Exception exception, string context, TimeSpan delay);

    [LoggerMessage(EventId = 2012, Level = LogLevel.Information, Message = "Inbox cleanup is disabled by configuration.")]
    public static partial void CleanupDisabled(ILogger logger);
}
