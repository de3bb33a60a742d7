using System.Data.Common;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Metadata;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Outbox.EntityFrameworkCore;

/// <summary>
/// Checks, when the host starts and before any hosted service (dispatcher, consumers) runs, the mistakes that would
/// otherwise show only as errors repeated forever: a <typeparamref name="TContext"/> with no connection string, a
/// store whose model lacks <c>AddOutbox()</c>, and outbox or inbox tables that are missing or older than the model
/// (a column missing, or a schema version in <c>outbox_messages_schema</c> / <c>inbox_messages_schema</c> below <see cref="OutboxSchemaVersion.Current"/>).
/// Each fails the start with the fix in the message. A database that cannot be reached is not a
/// mistake of the set-up: it is logged as a warning and the start goes on (the dispatcher and consumers retry); so is a
/// schema version above the current one (a newer version of the application upgraded the database).
/// </summary>
internal sealed class OutboxStartupCheck<TContext>(
    OutboxStartupRequirements<TContext> requirements,
    IServiceScopeFactory scopes,
    ILogger<OutboxStartupCheck<TContext>> logger) : IHostedLifecycleService
    where TContext : DbContext
{
    private static readonly Type[] OutboxEntities = [typeof(OutboxRecord), typeof(DeadLetterRecord), typeof(OutboxSequenceRecord)];
    private static readonly Type[] InboxEntities = [typeof(InboxRecord), typeof(InboxDeadLetterRecord), typeof(InboxSequenceRecord)];

    private static string ContextName => typeof(TContext).Name;

    public async Task StartingAsync(CancellationToken cancellationToken)
    {
        var scope = scopes.CreateAsyncScope();
        await using var scopeDisposal = scope.ConfigureAwait(false);
        var context = scope.ServiceProvider.GetService<TContext>()
            ?? throw new InvalidOperationException(
                $"{ContextName} is not registered, but the outbox uses it: call builder.Services.AddDbContext<{ContextName}>((sp, o) => o.UseSqlite(...).UseOutbox(sp)) (or UseNpgsql).");

        // A context of tenant databases (a database-per-tenant outbox, or a consumer whose inbox follows the message's
        // tenant) has no connection string outside a tenant's scope: its tables are each tenant's, reached at run time.
        var perTenant = scope.ServiceProvider.GetService<OutboxStoreBootstrap<TContext>>()?.Outbox.PerTenant == true
            || (scope.ServiceProvider.GetService<Outbox.OutboxTenantContext>() is not null && !HasConnectionString(context));
        var problems = new List<string>();
        if (!perTenant)
        {
            CheckConnectionString(context, problems);
        }

        if (requirements.OutboxStore is { } store && context.Model.FindEntityType(typeof(OutboxRecord)) is null)
        {
            problems.Add(
                $"The model of {ContextName} has no outbox tables, but {store} keeps the outbox there: call modelBuilder.AddOutbox() in " +
                $"{ContextName}.OnModelCreating (protected override void OnModelCreating(ModelBuilder b) => b.AddOutbox();), then add a migration " +
                "for the tables (dotnet ef migrations add AddOutbox).");
        }

        if (problems.Count > 0)
        {
            throw new InvalidOperationException(string.Join(Environment.NewLine, problems));
        }

        if (!perTenant)
        {
            await CheckTablesAsync(context, cancellationToken).ConfigureAwait(false);
        }
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private static bool HasConnectionString(TContext context)
    {
        try
        {
            return !string.IsNullOrWhiteSpace(context.Database.GetDbConnection().ConnectionString);
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    private static void CheckConnectionString(TContext context, List<string> problems)
    {
        string? connectionString;
        try
        {
            connectionString = context.Database.GetDbConnection().ConnectionString;
        }
        catch (InvalidOperationException)
        {
            // EF: "A relational store has been configured without specifying either the DbConnection or connection string".
            connectionString = null;
        }

        if (string.IsNullOrWhiteSpace(connectionString))
        {
            problems.Add(
                $"{ContextName} has no connection string (it is empty or missing), so the outbox has no database to use. Give one in " +
                $"AddDbContext<{ContextName}>((sp, o) => o.UseSqlite(\"Data Source=app.db\").UseOutbox(sp)) (or UseNpgsql(\"Host=...;Database=...\")); " +
                "when it comes from configuration (builder.Configuration.GetConnectionString(\"Name\")), set ConnectionStrings:Name in " +
                "appsettings.json or the environment variable ConnectionStrings__Name: a missing key reads as null.");
        }
    }

    private async Task CheckTablesAsync(TContext context, CancellationToken cancellationToken)
    {
        var tables = new List<(IEntityType Entity, string Table, string? Schema)>();
        if (requirements.OutboxStore is not null)
        {
            AddTables(context, OutboxEntities, tables);
        }

        if (requirements.Consumers.Count > 0)
        {
            AddTables(context, InboxEntities, tables);
        }

        if (tables.Count == 0)
        {
            return;
        }

        try
        {
            await context.Database.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is DbException or InvalidOperationException or TimeoutException or ArgumentException)
        {
            OutboxStartupLog.DatabaseUnreachable(logger, ContextName, exception.Message);
            return;
        }

        var missingTables = new List<string>();
        var missingColumns = new List<string>();
        string? firstError = null;
        SchemaVersionRead? version = null;
        try
        {
            var helper = context.GetService<ISqlGenerationHelper>();
            var connection = context.Database.GetDbConnection();
            foreach (var (entity, table, schema) in tables)
            {
                var name = helper.DelimitIdentifier(table, schema);
                var error = await ProbeAsync(connection, $"SELECT 1 FROM {name} WHERE 1 = 0", cancellationToken).ConfigureAwait(false);
                if (error is not null)
                {
                    firstError ??= error;
                    missingTables.Add(schema is null ? table : $"{schema}.{table}");
                    continue;
                }

                var store = StoreObjectIdentifier.Table(table, schema);
                var columns = entity.GetProperties().Select(p => p.GetColumnName(store)).OfType<string>().ToList();
                var all = string.Join(", ", columns.Select(c => helper.DelimitIdentifier(c)));
                if (await ProbeAsync(connection, $"SELECT {all} FROM {name} WHERE 1 = 0", cancellationToken).ConfigureAwait(false) is null)
                {
                    continue;
                }

                foreach (var column in columns)
                {
                    if (await ProbeAsync(connection, $"SELECT {helper.DelimitIdentifier(column)} FROM {name} WHERE 1 = 0", cancellationToken).ConfigureAwait(false) is { } columnError)
                    {
                        firstError ??= columnError;
                        missingColumns.Add($"{table}.{column}");
                    }
                }
            }

            if (missingTables.Count < tables.Count)
            {
                // The lowest version of the sides this context needs (outbox_messages_schema, inbox_messages_schema), else the highest.
                var reads = new List<SchemaVersionRead>();
                foreach (var side in VersionTables())
                {
                    if (await ReadSchemaVersionAsync(context, side, connection, helper, cancellationToken).ConfigureAwait(false) is { } sideVersion)
                    {
                        reads.Add(sideVersion);
                    }
                }

                version = reads.Count == 0 ? null
                    : reads.MinBy(r => r.Version) is { Version: < OutboxSchemaVersion.Current } lowest ? lowest
                    : reads.MaxBy(r => r.Version);
            }
        }
        finally
        {
            await context.Database.CloseConnectionAsync().ConfigureAwait(false);
        }

        var (script, apply) = Script(context);
        var behind = version is { } read && read.Version < OutboxSchemaVersion.Current;
        if (missingTables.Count == 0 && missingColumns.Count == 0 && !behind)
        {
            if (version is { Version: > OutboxSchemaVersion.Current } ahead)
            {
                OutboxStartupLog.SchemaVersionAhead(logger, ContextName, ahead.Table, ahead.Version, OutboxSchemaVersion.Current);
            }

            var verified = string.Join(", ", tables.Select(t => t.Table));
            OutboxStartupLog.SchemaVerified(logger, ContextName, verified);
            return;
        }

        var message = new List<string>();
        if (behind)
        {
            var folder = Path.GetDirectoryName(script)!.Replace('\\', '/');
            var deltas = OutboxSchemaVersion.Deltas.Where(d => d.Version > version!.Version).Select(d => $"{folder}/{d.Script}");
            message.Add(
                $"The outbox and inbox tables of {ContextName} are at schema version {version!.Version} ({version.How}), but this version of Outbox " +
                $"needs schema version {OutboxSchemaVersion.Current}: the database is behind. Upgrade the schema before starting: with EF Core migrations, " +
                $"`dotnet ef migrations add UpgradeOutbox` then `dotnet ef database update` (or {ContextName}.Database.Migrate() at start-up); with the SQL " +
                $"scripts, apply the delta script(s) {string.Join(" then ", deltas)} in that order, or the cumulative {script} ({apply}). See docs/upgrading.md.");
        }

        if (missingTables.Count > 0)
        {
            message.Add(
                $"The database of {ContextName} has no table {string.Join(", ", missingTables)} ({firstError}). Create the outbox and inbox tables: " +
                $"with EF Core migrations, `dotnet ef migrations add AddOutboxTables` then `dotnet ef database update` (or call " +
                $"{ContextName}.Database.Migrate() at start-up, before app.Run()); without EF migrations, apply the SQL script " +
                $"{script} of the Outbox repository ({apply}). See migrations/README.md.");
        }

        if (missingColumns.Count > 0)
        {
            message.Add(
                $"The outbox tables of {ContextName} are older than this version of Outbox: the column(s) {string.Join(", ", missingColumns)} are missing " +
                $"({firstError}). Upgrade the schema: with EF Core migrations, `dotnet ef migrations add UpgradeOutbox` then `dotnet ef database update`; " +
                $"with the SQL scripts, apply the delta script of this version from {Path.GetDirectoryName(script)}/ (see docs/upgrading.md).");
        }

        throw new InvalidOperationException(string.Join(Environment.NewLine, message));
    }

    /// <summary>
    /// Reads the one row of a version table (<c>outbox_messages_schema</c>, <c>inbox_messages_schema</c>). No such table means version 1: the tables as first shipped, before
    /// the table existed. No model entity (a model built without <c>AddOutbox()</c>/<c>AddInbox()</c>) means nothing to check.
    /// </summary>
    private static async Task<SchemaVersionRead?> ReadSchemaVersionAsync(
        TContext context, Type record, DbConnection connection, ISqlGenerationHelper helper, CancellationToken cancellationToken)
    {
        if (context.Model.FindEntityType(record) is not { } entity || entity.GetTableName() is not { } table)
        {
            return null;
        }

        var schema = entity.GetSchema();
        var shown = schema is null ? table : $"{schema}.{table}";
        var command = connection.CreateCommand();
        await using var commandDisposal = command.ConfigureAwait(false);
#pragma warning disable CA2100 // Identifiers from the model, validated and delimited by the provider; no values.
        command.CommandText = $"SELECT MAX({helper.DelimitIdentifier("version")}) FROM {helper.DelimitIdentifier(table, schema)}";
#pragma warning restore CA2100
        try
        {
            var value = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
            return value is null or DBNull
                ? new SchemaVersionRead(1, shown, $"{shown} has no row")
                : new SchemaVersionRead(Convert.ToInt32(value, System.Globalization.CultureInfo.InvariantCulture), shown, $"read from {shown}");
        }
        catch (DbException exception)
        {
            return new SchemaVersionRead(1, shown, $"no table {shown}, which version 2 added: {exception.Message}");
        }
    }

    /// <summary>The version tables of the sides the registrations need: the outbox's for a store, the inbox's for a consumer.</summary>
    private IEnumerable<Type> VersionTables()
    {
        if (requirements.OutboxStore is not null)
        {
            yield return typeof(OutboxSchemaRecord);
        }

        if (requirements.Consumers.Count > 0)
        {
            yield return typeof(InboxSchemaRecord);
        }
    }

    private sealed record SchemaVersionRead(int Version, string Table, string How);

    private static void AddTables(TContext context, Type[] entities, List<(IEntityType, string, string?)> tables)
    {
        foreach (var type in entities)
        {
            if (context.Model.FindEntityType(type) is { } entity && entity.GetTableName() is { } table)
            {
                tables.Add((entity, table, entity.GetSchema()));
            }
        }
    }

    /// <summary>Runs a statement that reads no row; returns the database's error, or null when it ran.</summary>
    private static async Task<string?> ProbeAsync(DbConnection connection, string sql, CancellationToken cancellationToken)
    {
        var command = connection.CreateCommand();
        await using var commandDisposal = command.ConfigureAwait(false);
#pragma warning disable CA2100 // Identifiers from the model, validated and delimited by the provider; no values.
        command.CommandText = sql;
#pragma warning restore CA2100
        try
        {
            var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await reader.DisposeAsync().ConfigureAwait(false);
            return null;
        }
        catch (DbException exception)
        {
            return exception.Message;
        }
    }

    private static (string Script, string Apply) Script(TContext context) =>
        context.Database.ProviderName?.Contains("Sqlite", StringComparison.OrdinalIgnoreCase) == true
            ? ("migrations/sqlite/outbox.sql", "sqlite3 app.db < migrations/sqlite/outbox.sql")
            : ("migrations/postgresql/outbox.sql", "psql -v ON_ERROR_STOP=1 -d mydb -f migrations/postgresql/outbox.sql");
}
