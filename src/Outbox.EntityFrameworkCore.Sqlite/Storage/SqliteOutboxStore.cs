using System.Collections.Concurrent;
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

    /// <summary>The columns a dead letter copies from its outbox row as they are (the payload is copied apart).</summary>
    private static readonly string[] DeadLetterCopiedColumns =
        ["id", "message_id", "destination", "message_type", "partition_key", "sequence_number", "content_type", "headers", "trace_parent", "created_at", "attempts"];

    /// <summary>The chunk in which a dead-letter move copies a payload: the most of it held in memory at once.</summary>
    private const int CopyChunkSize = 1024 * 1024;

    private readonly OutboxStoreBootstrap<TContext> _bootstrap;
    private readonly OutboxSqliteOptions _options;
    private readonly OutboxDispatcherOptions _dispatcher;
    private readonly Lazy<Statements> _statements;

    /// <summary>Rows above the limit handed out by a claim, without a lease (see <see cref="ClaimAsync"/>), and until when
    /// (<see cref="Environment.TickCount64"/>).</summary>
    private readonly ConcurrentDictionary<long, long> _handedOut = new();

    public SqliteOutboxStore(OutboxStoreBootstrap<TContext> bootstrap, IOptionsMonitor<OutboxSqliteOptions> options, IOptionsMonitor<OutboxDispatcherOptions> dispatcher)
        : this(bootstrap, options.Get(bootstrap.Outbox.OptionsName), dispatcher.Get(bootstrap.Outbox.OptionsName))
    {
    }

    /// <summary>A store with the options given (a tenant database's: the outbox's options with the tenant's connection string).</summary>
    internal SqliteOutboxStore(OutboxStoreBootstrap<TContext> bootstrap, OutboxSqliteOptions options, OutboxDispatcherOptions dispatcher)
    {
        _bootstrap = bootstrap;
        _options = options;
        _dispatcher = dispatcher;
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
            List<OutboxMessage> claimed;
            var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                claimed = [.. await OutboxRowReader.ReadAllAsync(reader, ReadGuid, cancellationToken).ConfigureAwait(false)];
            }

            // Rows above MaxPayloadSize are handed out without a lease: writing one would rewrite the whole record,
            // payload included, in this process's memory. The dead-letter move re-checks the row (DeadLetterAsync), so
            // a row is moved once whoever claimed it; and this process hands one out to one lane at a time, for as long
            // as a lease would last, so that it is dead-lettered, logged and counted once.
            command.CommandText = s.ClaimOversized;
            command.Parameters.AddWithValue("$handed", SqliteConnections.JsonArray(HandedOut()));
            reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                var oversized = await OutboxRowReader.ReadAllAsync(reader, ReadGuid, cancellationToken).ConfigureAwait(false);
                var until = Environment.TickCount64 + (long)leaseDuration.TotalMilliseconds;
                foreach (var message in oversized)
                {
                    _handedOut[message.Position] = until;
                }

                claimed.AddRange(oversized);
            }

            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            claimed.Sort(static (a, b) => a.Position.CompareTo(b.Position));
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

    /// <summary>
    /// Moves each row to the dead-letter table without holding its payload in memory: the dead letter is inserted with a
    /// zero-blob of the payload's size (its last column, which SQLite stores without materializing), the payload copied
    /// into it in <see cref="CopyChunkSize"/> chunks through incremental blob I/O, and the row deleted, all in one
    /// transaction. A row qualifies while this owner holds its lease, or, for a row above MaxPayloadSize (claimed without
    /// a lease), while nobody else does; a row that no longer qualifies (moved by another dispatcher) is left alone.
    /// </summary>
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
            using var read = connection.CreateCommand();
            read.Transaction = transaction;
            read.CommandText = s.DeadLetterRead;
            var readId = read.Parameters.Add("$id", SqliteType.Integer);
            read.Parameters.AddWithValue("$owner", GuidText(owner));

            // INSERT ... VALUES, not INSERT ... SELECT: SQLite materializes a zero-blob that comes out of a SELECT.
            using var insert = connection.CreateCommand();
            insert.Transaction = transaction;
            insert.CommandText = s.DeadLetterInsert;
            var values = new SqliteParameter[DeadLetterCopiedColumns.Length];
            for (var i = 0; i < values.Length; i++)
            {
                values[i] = insert.Parameters.Add("$" + DeadLetterCopiedColumns[i], SqliteType.Text);
            }

            var size = insert.Parameters.Add("$size", SqliteType.Integer);
            var reason = insert.Parameters.Add("$reason", SqliteType.Text);

            using var delete = connection.CreateCommand();
            delete.Transaction = transaction;
            delete.CommandText = s.DeadLetterDelete;
            var deleteId = delete.Parameters.Add("$id", SqliteType.Integer);

            foreach (var deadLetter in deadLetters)
            {
                readId.Value = deadLetter.Position;
                long payloadSize;
                var reader = await read.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                await using (reader.ConfigureAwait(false))
                {
                    if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                    {
                        continue; // not this owner's to move (any more)
                    }

                    // Each value goes back as SQLite returned it (its storage class kept: TEXT, INTEGER or NULL).
                    for (var i = 0; i < values.Length; i++)
                    {
                        values[i].SqliteType = reader.IsDBNull(i) ? SqliteType.Text : SqliteTypeOf(reader.GetFieldType(i));
                        values[i].Value = reader.GetValue(i);
                    }

                    payloadSize = reader.GetInt64(values.Length);
                }

                size.Value = payloadSize;
                reason.Value = deadLetter.Reason;
                await insert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                if (payloadSize > 0)
                {
                    using var from = new SqliteBlob(connection, s.OutboxName, "payload", deadLetter.Position, readOnly: true);
                    using var to = new SqliteBlob(connection, s.DeadLetterName, "payload", deadLetter.Position);
                    await from.CopyToAsync(to, CopyChunkSize, cancellationToken).ConfigureAwait(false);
                }

                deleteId.Value = deadLetter.Position;
                await delete.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        }

        foreach (var deadLetter in deadLetters)
        {
            _handedOut.TryRemove(deadLetter.Position, out _);
        }
    }

    /// <summary>The rows above the limit handed out to a lane of this process whose time is not up, forgetting the rest.</summary>
    private List<long> HandedOut()
    {
        var now = Environment.TickCount64;
        var handed = new List<long>();
        foreach (var (position, until) in _handedOut)
        {
            if (until > now)
            {
                handed.Add(position);
            }
            else
            {
                _handedOut.TryRemove(position, out _);
            }
        }

        return handed;
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

    private static SqliteType SqliteTypeOf(Type type) =>
        type == typeof(long) ? SqliteType.Integer : type == typeof(double) ? SqliteType.Real : type == typeof(byte[]) ? SqliteType.Blob : SqliteType.Text;

    private static Guid ReadGuid(System.Data.Common.DbDataReader reader, int ordinal) => Guid.Parse(reader.GetString(ordinal));

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
        var max = _dispatcher.MaxPayloadSize.ToString(CultureInfo.InvariantCulture);
        var claimable = $"""
            (t.available_at IS NULL OR t.available_at <= {Now})
                      AND (t.lease_expires_at IS NULL OR t.lease_expires_at <= {Now})
                      AND {OutboxOrderingSql.HeadOfLine(t, d, _dispatcher.AfterDeadLetter)}
            """;
        return new Statements(
            connectionString,
            tables.OutboxName,
            tables.DeadLetterName,
            Claim: $"""
                UPDATE {t}
                SET lease_owner = $owner, lease_expires_at = strftime('%Y-%m-%d %H:%M:%f', 'now', $lease), attempts = attempts + 1
                WHERE id IN (
                    SELECT t.id FROM {t} AS t
                    WHERE {claimable}
                      AND length(t.payload) <= {max}
                    ORDER BY t.id
                    LIMIT $batch)
                RETURNING {OutboxRowReader.ClaimColumnList(null, "length", _dispatcher.MaxPayloadSize)}
                """,
            // attempts + 1: the attempt this claim stands for, as the lease-taking claim reports it (not written here).
            ClaimOversized: $"""
                SELECT {OutboxRowReader.ClaimColumnList("t", "length", _dispatcher.MaxPayloadSize).Replace("t.attempts,", "t.attempts + 1,", StringComparison.Ordinal)}
                FROM {t} AS t
                WHERE {claimable}
                  AND length(t.payload) > {max}
                  AND t.id NOT IN (SELECT value FROM json_each($handed))
                ORDER BY t.id
                LIMIT $batch
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
            // The row's columns but its payload, and the payload's size in bytes (of a BLOB or a TEXT alike), while the row
            // is this owner's to move: leased to it, or above the limit and leased to nobody (such a row is claimed
            // without a lease, and its attempt, not counted by the claim, is counted here). length() of a BLOB is read
            // from the record header, not from the payload.
            DeadLetterRead: $"""
                SELECT {string.Join(", ", DeadLetterCopiedColumns.Select(c => c == "attempts" ? "CASE WHEN lease_owner = $owner THEN attempts ELSE attempts + 1 END" : c))},
                       COALESCE(CASE typeof(payload) WHEN 'text' THEN octet_length(payload) ELSE length(payload) END, 0)
                FROM {t}
                WHERE id = $id
                  AND (lease_owner = $owner
                       OR (length(payload) > {max} AND (lease_expires_at IS NULL OR lease_expires_at <= {Now})))
                """,
            DeadLetterInsert: $"""
                INSERT INTO {d} ({string.Join(", ", DeadLetterCopiedColumns)}, reason, dead_lettered_at, payload)
                VALUES ({string.Join(", ", DeadLetterCopiedColumns.Select(c => "$" + c))}, $reason, {Now}, zeroblob($size))
                """,
            DeadLetterDelete: $"DELETE FROM {t} WHERE id = $id",
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
        string OutboxName,
        string DeadLetterName,
        string Claim,
        string ClaimOversized,
        string Acknowledge,
        string Release,
        string DeadLetterRead,
        string DeadLetterInsert,
        string DeadLetterDelete,
        string LastPosition,
        string CountUndelivered,
        string Backlog);
}
