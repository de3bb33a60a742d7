using System.Globalization;
using System.Text;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Outbox.EntityFrameworkCore.Sqlite;

/// <summary>
/// The SQLite outbox store. SQLite has one writer at a time: a claim takes the write lock at once
/// (<c>BEGIN IMMEDIATE</c>), marks its batch with <c>UPDATE ... RETURNING</c> and commits, so two dispatchers never
/// claim the same row; they take turns, and each turn is a few milliseconds. Busy waits are bounded by the
/// connection's default timeout. Times are the database clock as UTC text (<c>strftime('%Y-%m-%d %H:%M:%f','now')</c>),
/// the same format EF Core writes <see cref="DateTime"/> in, so text comparison orders them.
/// </summary>
internal sealed class SqliteOutboxStore<TContext> : IOutboxStore, IOutboxMonitor
    where TContext : DbContext
{
    private const string Now = "strftime('%Y-%m-%d %H:%M:%f', 'now')";

    private readonly OutboxStoreBootstrap<TContext> _bootstrap;
    private readonly OutboxSqliteOptions _options;
    private readonly OutboxDispatcherOptions _dispatcher;
    private readonly Lazy<Statements> _statements;

    public SqliteOutboxStore(OutboxStoreBootstrap<TContext> bootstrap, IOptionsMonitor<OutboxSqliteOptions> options, IOptionsMonitor<OutboxDispatcherOptions> dispatcher)
    {
        _bootstrap = bootstrap;
        _options = options.Get(bootstrap.Outbox.OptionsName);
        _dispatcher = dispatcher.Get(bootstrap.Outbox.OptionsName);
        _statements = new Lazy<Statements>(Build, LazyThreadSafetyMode.ExecutionAndPublication);
    }

    public async Task<IReadOnlyList<OutboxMessage>> ClaimAsync(Guid owner, int batchSize, TimeSpan leaseDuration, CancellationToken cancellationToken)
    {
        var s = _statements.Value;
        var connection = await OpenAsync(s, cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            // BEGIN IMMEDIATE: take the write lock before reading, so the rows chosen cannot be claimed by anyone else.
            using var transaction = connection.BeginTransaction(deferred: false);
            using var command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = s.Claim;
            command.Parameters.AddWithValue("$batch", batchSize);
            command.Parameters.AddWithValue("$owner", GuidText(owner));
            command.Parameters.AddWithValue("$lease", Seconds(leaseDuration));
            IReadOnlyList<OutboxMessage> claimed;
            var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                claimed = await OutboxRowReader.ReadAllAsync(reader, static (r, i) => Guid.Parse(r.GetString(i)), cancellationToken).ConfigureAwait(false);
            }

            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            return claimed;
        }
    }

    public async Task AcknowledgeAsync(Guid owner, IReadOnlyCollection<long> positions, CancellationToken cancellationToken)
    {
        if (positions.Count == 0)
        {
            return;
        }

        var s = _statements.Value;
        var connection = await OpenAsync(s, cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            using var command = connection.CreateCommand();
            command.CommandText = s.Acknowledge;
            command.Parameters.AddWithValue("$ids", SqliteConnections.JsonArray(positions));
            command.Parameters.AddWithValue("$owner", GuidText(owner));
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public async Task ReleaseAsync(Guid owner, IReadOnlyList<OutboxRelease> releases, CancellationToken cancellationToken)
    {
        if (releases.Count == 0)
        {
            return;
        }

        var s = _statements.Value;
        var connection = await OpenAsync(s, cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            using var transaction = connection.BeginTransaction(deferred: false);
            using var command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = s.Release;
            var id = command.Parameters.Add("$id", SqliteType.Integer);
            var delay = command.Parameters.Add("$delay", SqliteType.Text);
            var error = command.Parameters.Add("$error", SqliteType.Text);
            var refund = command.Parameters.Add("$refund", SqliteType.Integer);
            command.Parameters.AddWithValue("$owner", GuidText(owner));
            foreach (var release in releases)
            {
                id.Value = release.Position;
                delay.Value = Seconds(release.Delay);
                error.Value = (object?)release.Error ?? DBNull.Value;
                refund.Value = release.RefundAttempt ? 1 : 0;
                await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public async Task DeadLetterAsync(Guid owner, IReadOnlyList<OutboxDeadLetter> deadLetters, CancellationToken cancellationToken)
    {
        if (deadLetters.Count == 0)
        {
            return;
        }

        var s = _statements.Value;
        var connection = await OpenAsync(s, cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            using var transaction = connection.BeginTransaction(deferred: false);
            using var command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = s.DeadLetter;
            var id = command.Parameters.Add("$id", SqliteType.Integer);
            var reason = command.Parameters.Add("$reason", SqliteType.Text);
            command.Parameters.AddWithValue("$owner", GuidText(owner));
            foreach (var deadLetter in deadLetters)
            {
                id.Value = deadLetter.Position;
                reason.Value = deadLetter.Reason;
                await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public async Task<long> GetLastPositionAsync(CancellationToken cancellationToken)
    {
        var s = _statements.Value;
        var connection = await OpenAsync(s, cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            using var command = connection.CreateCommand();
            command.CommandText = s.LastPosition;
            return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), CultureInfo.InvariantCulture);
        }
    }

    public async Task<long> CountUndeliveredAsync(long upToPosition, CancellationToken cancellationToken)
    {
        var s = _statements.Value;
        var connection = await OpenAsync(s, cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            using var command = connection.CreateCommand();
            command.CommandText = s.CountUndelivered;
            command.Parameters.AddWithValue("$upTo", upToPosition);
            return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), CultureInfo.InvariantCulture);
        }
    }

    public async Task<OutboxBacklog> GetBacklogAsync(CancellationToken cancellationToken)
    {
        var s = _statements.Value;
        var connection = await OpenAsync(s, cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            using var command = connection.CreateCommand();
            command.CommandText = s.Backlog;
            var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
                return new OutboxBacklog(
                    reader.GetInt64(0),
                    reader.IsDBNull(1) ? null : new DateTimeOffset(DateTime.SpecifyKind(reader.GetDateTime(1), DateTimeKind.Utc)),
                    reader.GetInt64(2),
                    new DateTimeOffset(DateTime.SpecifyKind(reader.GetDateTime(3), DateTimeKind.Utc)));
            }
        }
    }

    private static Task<SqliteConnection> OpenAsync(Statements statements, CancellationToken cancellationToken) =>
        SqliteConnections.OpenAsync(statements.ConnectionString, cancellationToken);

    // EF Core stores Guids in SQLite as upper-case text; lease owners are written the same way.
    private static string GuidText(Guid value) => value.ToString("D").ToUpperInvariant();

    private static string Seconds(TimeSpan value) => string.Create(CultureInfo.InvariantCulture, $"+{value.TotalSeconds:0.000} seconds");

    private Statements Build()
    {
        var tables = _bootstrap.Tables;
        var connectionString = _options.ConnectionString ?? tables.ConnectionString
            ?? throw new InvalidOperationException(
                $"The SQLite outbox store has no connection string: {typeof(TContext).Name} is not configured with one. Set OutboxSqliteOptions.ConnectionString in UseSqlite<{typeof(TContext).Name}>(o => ...).");
        if (_options.UseWriteAheadLog)
        {
            using var connection = new SqliteConnection(connectionString);
            connection.Open();
            using var pragma = connection.CreateCommand();
            pragma.CommandText = "PRAGMA journal_mode=WAL;";
            pragma.ExecuteNonQuery();
        }

        var t = tables.Outbox;
        var d = tables.DeadLetters;
        return new Statements(
            connectionString,
            Claim: $"""
                UPDATE {t}
                SET lease_owner = $owner, lease_expires_at = strftime('%Y-%m-%d %H:%M:%f', 'now', $lease), attempts = attempts + 1
                WHERE id IN (
                    SELECT t.id FROM {t} AS t
                    WHERE (t.available_at IS NULL OR t.available_at <= {Now})
                      AND (t.lease_expires_at IS NULL OR t.lease_expires_at <= {Now})
                      AND {OutboxOrderingSql.HeadOfLine(t, d, _dispatcher.AfterDeadLetter)}
                    ORDER BY t.id
                    LIMIT $batch)
                RETURNING {OutboxRowReader.ClaimColumnList(null, "length", _dispatcher.MaxPayloadSize)}
                """,
            Acknowledge: $"DELETE FROM {t} WHERE lease_owner = $owner AND id IN (SELECT value FROM json_each($ids))",
            Release: $"""
                UPDATE {t}
                SET lease_owner = NULL, lease_expires_at = NULL,
                    available_at = strftime('%Y-%m-%d %H:%M:%f', 'now', $delay),
                    last_error = COALESCE($error, last_error),
                    attempts = attempts - $refund
                WHERE id = $id AND lease_owner = $owner
                """,
            DeadLetter: $"""
                INSERT INTO {d} (id, message_id, destination, message_type, partition_key, sequence_number, payload, content_type,
                                 headers, trace_parent, created_at, attempts, reason, dead_lettered_at)
                SELECT id, message_id, destination, message_type, partition_key, sequence_number, payload, content_type,
                       headers, trace_parent, created_at, attempts, $reason, {Now}
                FROM {t} WHERE id = $id AND lease_owner = $owner;
                DELETE FROM {t} WHERE id = $id AND lease_owner = $owner;
                """,
            LastPosition: $"SELECT COALESCE(max(id), 0) FROM {t}",
            CountUndelivered: $"SELECT count(*) FROM {t} WHERE id <= $upTo AND NOT (attempts = 0 AND available_at IS NOT NULL AND available_at > {Now})",
            Backlog: $"""
                SELECT (SELECT count(*) FROM (SELECT 1 FROM {t} LIMIT {OutboxBacklog.CountCap})),
                       (SELECT created_at FROM {t} ORDER BY id LIMIT 1),
                       (SELECT count(*) FROM (SELECT 1 FROM {d} LIMIT {OutboxBacklog.CountCap})),
                       {Now}
                """);
    }

    private sealed record Statements(
        string ConnectionString,
        string Claim,
        string Acknowledge,
        string Release,
        string DeadLetter,
        string LastPosition,
        string CountUndelivered,
        string Backlog);
}
