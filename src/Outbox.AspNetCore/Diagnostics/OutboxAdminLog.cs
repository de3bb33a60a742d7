using Microsoft.Extensions.Logging;

namespace Outbox.AspNetCore;

/// <summary>Structured log events of the admin API (event ids 4000-4099). Payloads are never logged.</summary>
internal static partial class OutboxAdminLog
{
    [LoggerMessage(EventId = 4001, Level = LogLevel.Information, Message = "Outbox admin: {User} requeued {Count} dead letter(s); {NotFound} id(s) were not dead letters.")]
    public static partial void Requeued(ILogger logger, string user, int count, int notFound);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Information, Message = "Outbox admin: {User} purged {Count} {Table} dead letter(s) by id.")]
    public static partial void PurgedByIds(ILogger logger, string user, int count, string table);

    [LoggerMessage(EventId = 4003, Level = LogLevel.Information, Message = "Outbox admin: {User} purged {Count} {Table} dead letter(s) dead-lettered before {Before:O}.")]
    public static partial void PurgedBefore(ILogger logger, string user, int count, string table, DateTimeOffset before);

    [LoggerMessage(EventId = 4004, Level = LogLevel.Warning, Message = "The outbox admin API at {Prefix} is mapped WITHOUT authorization (AllowAnonymous = true): anyone who can reach it can requeue and delete messages.")]
    public static partial void MappedAnonymous(ILogger logger, string prefix);

    [LoggerMessage(EventId = 4005, Level = LogLevel.Information, Message = "The outbox admin API is mapped at {Prefix}, requiring authorization policy '{Policy}'.")]
    public static partial void Mapped(ILogger logger, string prefix, string policy);

    [LoggerMessage(EventId = 4010, Level = LogLevel.Error, Message = "Outbox admin request {Method} {Path} failed.")]
    public static partial void RequestFailed(ILogger logger, Exception exception, string method, string path);
}
