using Microsoft.Extensions.Logging;

namespace Outbox.Http;

/// <summary>Structured log events of the HTTP transport (5000-5049; batches 5100-5149) and inbox endpoint (5050-5099; batches 5150-5199). Payloads are never logged.</summary>
internal static partial class HttpLog
{
    [LoggerMessage(EventId = 5001, Level = LogLevel.Debug, Message = "Posted outbox message {MessageId} to {Url}: {StatusCode}.")]
    public static partial void Posted(ILogger logger, Guid messageId, Uri url, int statusCode);

    [LoggerMessage(EventId = 5100, Level = LogLevel.Debug, Message = "Posted batch {BatchId} of {Count} outbox messages ({Bytes} bytes) to {Url}: {StatusCode}.")]
    public static partial void PostedBatch(ILogger logger, string batchId, int count, int bytes, Uri url, int statusCode);

    [LoggerMessage(EventId = 5101, Level = LogLevel.Warning, Message = "Batch {BatchId} of {Count} messages was not taken as a batch ({Detail}); its messages are posted one by one to {Url}.")]
    public static partial void BatchRefused(ILogger logger, string batchId, int count, Uri url, string detail);

    [LoggerMessage(EventId = 5150, Level = LogLevel.Warning, Message = "HTTP inbox of consumer {Consumer}: batch {BatchId} is malformed (400), nothing was written: {Reason}")]
    public static partial void BatchMalformed(ILogger logger, string consumer, string? batchId, string reason);

    [LoggerMessage(EventId = 5151, Level = LogLevel.Debug, Message = "HTTP inbox of consumer {Consumer}: batch {BatchId} of {Count} messages: {Accepted} accepted, {Rejected} rejected, {Retry} to be sent again.")]
    public static partial void BatchReceived(ILogger logger, string consumer, string? batchId, int count, int accepted, int rejected, int retry);

    [LoggerMessage(EventId = 5152, Level = LogLevel.Error, Message = "HTTP inbox of consumer {Consumer}: batch {BatchId} failed unexpectedly; the messages without an outcome are to be sent again.")]
    public static partial void BatchFailed(ILogger logger, Exception exception, string consumer, string? batchId);

    [LoggerMessage(EventId = 5050, Level = LogLevel.Warning, Message = "HTTP inbox of consumer {Consumer}: a request body of more than {Limit} bytes was refused (413).")]
    public static partial void TooLarge(ILogger logger, string consumer, long limit);

    [LoggerMessage(EventId = 5051, Level = LogLevel.Warning, Message = "HTTP inbox of consumer {Consumer}: message {MessageId} could not be recorded; answered 503, retry after {RetryAfter}.")]
    public static partial void Requeued(ILogger logger, string consumer, string? messageId, TimeSpan retryAfter);

    [LoggerMessage(EventId = 5052, Level = LogLevel.Information, Message = "HTTP inbox of consumer {Consumer}: processing of message {MessageId} was cut short (request aborted or host stopping); the sender tries again.")]
    public static partial void Cancelled(ILogger logger, string consumer, string? messageId);

    [LoggerMessage(EventId = 5053, Level = LogLevel.Debug, Message = "HTTP inbox: no consumer {Consumer} receives over HTTP (404).")]
    public static partial void UnknownConsumer(ILogger logger, string consumer);

    [LoggerMessage(EventId = 5054, Level = LogLevel.Error, Message = "HTTP inbox of consumer {Consumer}: message {MessageId} failed unexpectedly; answered 503.")]
    public static partial void ReceiveFailed(ILogger logger, Exception exception, string consumer, string? messageId);

    [LoggerMessage(EventId = 5055, Level = LogLevel.Warning, Message = "HTTP inbox of consumer {Consumer}: a request was refused (401), nothing was written: {Reason}")]
    public static partial void SignatureRefused(ILogger logger, string consumer, string reason);

    [LoggerMessage(EventId = 5056, Level = LogLevel.Information, Message = "HTTP inbox of consumer {Consumer}: a request did not satisfy the authorization policy {Policy} ({StatusCode}); nothing was written.")]
    public static partial void NotAuthorized(ILogger logger, string consumer, string policy, int statusCode);

    [LoggerMessage(EventId = 5057, Level = LogLevel.Warning, Message = "The HTTP inbox of consumer {Consumer} at {Pattern} is mapped WITHOUT authentication (AllowUnauthenticated = true): anyone who can reach it can post messages to it.")]
    public static partial void MappedUnauthenticated(ILogger logger, string consumer, string pattern);
}
