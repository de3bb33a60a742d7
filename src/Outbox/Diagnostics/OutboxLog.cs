using Microsoft.Extensions.Logging;

namespace Outbox;

/// <summary>Structured log events of the dispatcher. Payloads and headers are never logged.</summary>
internal static partial class OutboxLog
{
    [LoggerMessage(EventId = 1001, Level = LogLevel.Information, Message = "Outbox dispatcher started {Concurrency} loop(s), batch size {BatchSize}, lease {LeaseDuration}.")]
    public static partial void DispatcherStarted(ILogger logger, int concurrency, int batchSize, TimeSpan leaseDuration);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Information, Message = "Outbox dispatcher loop {Owner} stopped.")]
    public static partial void LoopStopped(ILogger logger, Guid owner);

    [LoggerMessage(EventId = 1009, Level = LogLevel.Debug, Message = "Outbox dispatcher loop {Owner}, added while claims came back full, stopped: its last claim found nothing or failed.")]
    public static partial void AddedLoopStopped(ILogger logger, Guid owner);

    [LoggerMessage(EventId = 1010, Level = LogLevel.Debug, Message = "Outbox dispatcher loop {Owner}, added while claims came back full, failed and stops; the steady loop carries on.")]
    public static partial void AddedLoopFailed(ILogger logger, Exception exception, Guid owner);

    [LoggerMessage(EventId = 1003, Level = LogLevel.Error, Message = "Outbox dispatcher loop {Owner} failed; retrying in {Delay}.")]
    public static partial void LoopFailed(ILogger logger, Exception exception, Guid owner, TimeSpan delay);

    [LoggerMessage(EventId = 1004, Level = LogLevel.Warning, Message = "Sending outbox message {MessageId} ({MessageType}) failed on attempt {Attempt}; retrying in {Delay}.")]
    public static partial void SendFailed(ILogger logger, Exception exception, Guid messageId, string messageType, int attempt, TimeSpan delay);

    [LoggerMessage(EventId = 1005, Level = LogLevel.Error, Message = "Outbox message {MessageId} ({MessageType}) moved to the dead letters after attempt {Attempt}: {Reason}")]
    public static partial void DeadLettered(ILogger logger, Guid messageId, string messageType, int attempt, string reason);

    [LoggerMessage(EventId = 1006, Level = LogLevel.Information, Message = "Outbox dispatcher loop {Owner} released {Count} unsent message(s) on shutdown.")]
    public static partial void ReleasedOnShutdown(ILogger logger, Guid owner, int count);

    [LoggerMessage(EventId = 1007, Level = LogLevel.Warning, Message = "The circuit of destination {Destination} is open; {Count} of its message(s) will be tried again in {Delay}, their attempts not counted. {Cause}")]
    public static partial void CircuitOpen(ILogger logger, string destination, int count, TimeSpan delay, string cause);

    [LoggerMessage(EventId = 1008, Level = LogLevel.Information, Message = "Outbox dispatcher is disabled by configuration.")]
    public static partial void DispatcherDisabled(ILogger logger);
}
