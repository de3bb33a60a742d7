using Microsoft.Extensions.Logging;

namespace Outbox.EntityFrameworkCore;

/// <summary>Start-up and usage diagnostics of the EF Core integration (event ids 6000-6099).</summary>
internal static partial class OutboxStartupLog
{
    [LoggerMessage(EventId = 1201, Level = LogLevel.Warning, Message = "Could not reach the database of {Context} at start-up to check the outbox and inbox tables ({Error}); starting anyway, the dispatcher and consumers retry until it answers.")]
    public static partial void DatabaseUnreachable(ILogger logger, string context, string error);

    [LoggerMessage(EventId = 1202, Level = LogLevel.Debug, Message = "The outbox and inbox tables of {Context} are in place ({Tables}).")]
    public static partial void SchemaVerified(ILogger logger, string context, string tables);

    [LoggerMessage(EventId = 1400, Level = LogLevel.Warning, Message = "The outbox and inbox tables of {Context} are at schema version {Version} ({Table}), newer than the version {Expected} this version of Outbox knows: a newer version of the application upgraded the database. Starting anyway (a change that is additive lets both versions share the tables during a rolling upgrade); update the Outbox packages to the version that made the schema, see docs/upgrading.md.")]
    public static partial void SchemaVersionAhead(ILogger logger, string context, string table, int version, int expected);

    [LoggerMessage(EventId = 1210, Level = LogLevel.Warning, Message = "A {Context} ended (disposed, or returned to its pool) with {Count} published message(s) that were never saved ({MessageTypes}): Publish only adds a message to the unit of work; call SaveChanges or SaveChangesAsync before the context ends to write it. Nothing was written or sent.")]
    public static partial void PublishedButNotSaved(ILogger logger, string context, int count, string messageTypes);
}
