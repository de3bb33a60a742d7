using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;

namespace Outbox.EntityFrameworkCore.PostgreSql;

/// <summary>
/// The PostgreSQL outbox store. Every operation is one statement in a transaction of its own (a write goes in one
/// batch with the setting it needs, see <see cref="CreateWrite"/>): the claim is
/// <c>WITH c AS MATERIALIZED (SELECT ... FOR UPDATE SKIP LOCKED LIMIT n) UPDATE ... WHERE id = ANY(ARRAY(SELECT id FROM c))
/// RETURNING</c> (not a join with <c>c</c>: with statistics that call the table empty, the planner may scan the whole
/// primary key for the join, every dead entry included, while <c>= ANY</c> is always an index lookup), so concurrent
/// dispatchers never wait on each other's rows and no transaction stays open while messages are sent.
/// All times come from the database clock (<c>now()</c>).
/// </summary>
internal sealed class PostgreSqlOutboxStore<TContext> : IOutboxStore, IOutboxMonitor, IAsyncDisposable, IDisposable
    where TContext : DbContext
{
    private readonly OutboxStoreBootstrap<TContext> _bootstrap;
    private readonly OutboxPostgreSqlOptions _options;
    private readonly OutboxDispatcherOptions _dispatcher;
    private readonly Lazy<Statements> _statements;
    private readonly TimeProvider _time = TimeProvider.System;
    private long _floor;
    private long _highestClaimed;
    private readonly CancellationTokenSource _disposed = new();
    private long _nextFloorRefresh;
    private long _nextFloorRescan;
    private int _readingFloor;
    private long _floorReads;
    private int _floorReadFailures; // consecutive; touched only by the one running read
    private readonly ILogger _logger;

    // Floors read but not yet safe to use, oldest first (see GetFloor); touched only by the one running read.
    // Bounded: while full, newer candidates are not kept (dropping a candidate only delays the floor's rise).
    private readonly Queue<FloorCandidate> _floorCandidates = new();
    private const int MaxFloorCandidates = 64;

    /// <summary>See <see cref="CreateWrite"/> and <see cref="OutboxPostgreSqlOptions.SynchronousCommit"/>.</summary>
    private const string AsynchronousCommit = "SELECT set_config('synchronous_commit', 'off', true)";

    public PostgreSqlOutboxStore(
        OutboxStoreBootstrap<TContext> bootstrap,
        IOptionsMonitor<OutboxPostgreSqlOptions> options,
        IOptionsMonitor<OutboxDispatcherOptions> dispatcher,
        ILogger<PostgreSqlOutboxStore<TContext>>? logger = null)
        : this(bootstrap, options.Get(bootstrap.Outbox.OptionsName), dispatcher.Get(bootstrap.Outbox.OptionsName), logger)
    {
    }

    /// <summary>A store with the options given (a tenant database's: the outbox's options with the tenant's connection string).</summary>
    internal PostgreSqlOutboxStore(
        OutboxStoreBootstrap<TContext> bootstrap,
        OutboxPostgreSqlOptions options,
        OutboxDispatcherOptions dispatcher,
        ILogger<PostgreSqlOutboxStore<TContext>>? logger)
    {
        _logger = logger ?? (ILogger)NullLogger.Instance;
        _bootstrap = bootstrap;
        _options = options;
        _dispatcher = dispatcher;
        _statements = new Lazy<Statements>(Build, LazyThreadSafetyMode.PublicationOnly);
    }

    public async Task<IReadOnlyList<OutboxMessage>> ClaimAsync(Guid owner, int batchSize, TimeSpan leaseDuration, CancellationToken cancellationToken)
    {
        var s = _statements.Value;
        var floor = GetFloor(s);
        using var batch = CreateWrite(s, s.Claim, out var command);
        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = batchSize });
        command.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = owner });
        command.Parameters.Add(new NpgsqlParameter<TimeSpan> { TypedValue = leaseDuration, NpgsqlDbType = NpgsqlDbType.Interval });
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = floor });
        var reader = await batch.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        IReadOnlyList<OutboxMessage> claimed;
        await using (reader.ConfigureAwait(false))
        {
            // The claim's rows are the batch's last result set (see CreateWrite).
            for (var i = 1; i < batch.BatchCommands.Count; i++)
            {
                await reader.NextResultAsync(cancellationToken).ConfigureAwait(false);
            }

            claimed = await OutboxRowReader.ReadAllAsync(reader, static (r, i) => r.GetGuid(i), cancellationToken).ConfigureAwait(false);
        }

        if (claimed.Count > 0)
        {
            var highest = claimed.Max(m => m.Position);
            var seen = Interlocked.Read(ref _highestClaimed);
            while (highest > seen && Interlocked.CompareExchange(ref _highestClaimed, highest, seen) != seen)
            {
                seen = Interlocked.Read(ref _highestClaimed);
            }
        }

        return claimed;
    }

    /// <summary>
    /// The id from which claims scan (see <see cref="OutboxPostgreSqlOptions.ClaimFloorLag"/>). When due, one read runs
    /// in the background and the claim goes on with the floor it has. Each read gives a candidate: the lowest id in the
    /// table (from the floor every refresh interval, from the start every rescan interval), or, the table being empty,
    /// one past the highest id this store has claimed. A row below the candidate that the read could not see belongs
    /// to a transaction that had written to the table (and so held its write lock) but not committed. So a candidate
    /// is used only once every transaction writing to the table at its read has ended, as seen by a later read, and
    /// it is at least <see cref="OutboxPostgreSqlOptions.ClaimFloorLag"/> old; the floor then becomes the lower of it
    /// and the lowest id the read after that saw, which includes what those transactions committed. Long
    /// transactions that do not write to the outbox do not hold the floor back. A row below the floor anyway is found
    /// by the next rescan, which lowers the floor at once.
    /// </summary>
    /// <summary>The floor claims scan from now (for tests: whether it rose).</summary>
    internal long Floor => Interlocked.Read(ref _floor);

    /// <summary>Floor reads completed so far (for tests: progress that does not depend on the machine's speed).</summary>
    internal long FloorReads => Interlocked.Read(ref _floorReads);

    private long GetFloor(Statements s)
    {
        var rescan = _options.ClaimFloorRescanInterval;
        if (rescan <= TimeSpan.Zero)
        {
            return 0;
        }

        var now = _time.GetTimestamp();
        if (now >= Interlocked.Read(ref _nextFloorRefresh) && Interlocked.Exchange(ref _readingFloor, 1) == 0)
        {
            _ = ReadFloorAsync(s, fromStart: now >= Interlocked.Read(ref _nextFloorRescan), now);
        }

        return Interlocked.Read(ref _floor);
    }

    private async Task ReadFloorAsync(Statements s, bool fromStart, long startedAt)
    {
        try
        {
            var floor = Interlocked.Read(ref _floor);
            var highestClaimed = Interlocked.Read(ref _highestClaimed);
            long? lowest;
            string[] writers;
            var command = s.DataSource.CreateCommand(fromStart ? s.LowestId : s.LowestIdFrom);
            await using (command.ConfigureAwait(false))
            {
                if (!fromStart)
                {
                    command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = floor });
                }

                var reader = await command.ExecuteReaderAsync(_disposed.Token).ConfigureAwait(false);
                await using (reader.ConfigureAwait(false))
                {
                    await reader.ReadAsync(_disposed.Token).ConfigureAwait(false);
                    lowest = reader.IsDBNull(0) ? null : reader.GetInt64(0);
                    writers = reader.GetFieldValue<string[]>(1);
                }
            }

            var readAt = _time.GetTimestamp();
            if (fromStart)
            {
                // Everything committed is at or above this read's lowest id: rows that committed below the floor are
                // found, and the floor drops to them now; older candidates no longer hold.
                _floorCandidates.Clear();
                Interlocked.Exchange(ref _floor, Math.Min(floor, lowest ?? Math.Max(0, highestClaimed + 1)));
                Interlocked.Exchange(ref _nextFloorRescan, startedAt + Ticks(_options.ClaimFloorRescanInterval));
            }

            // Candidates whose writers had all ended at an earlier read, so before this read's snapshot: what they
            // committed below the candidate is visible to this read, so the floor is at most this read's lowest id.
            long? cleared = null;
            while (_floorCandidates.TryPeek(out var oldest) && oldest.Cleared)
            {
                cleared = _floorCandidates.Dequeue().Floor;
            }

            if (cleared is { } ready)
            {
                var next = lowest is { } seen ? Math.Min(ready, seen) : ready;
                if (next > Interlocked.Read(ref _floor))
                {
                    Interlocked.Exchange(ref _floor, next);
                }
            }

            if (_floorCandidates.Count < MaxFloorCandidates)
            {
                var candidate = lowest ?? Math.Max(fromStart ? 0 : floor, highestClaimed + 1);
                _floorCandidates.Enqueue(new FloorCandidate(readAt, candidate, writers));
            }

            // A candidate clears once it is old enough and none of the transactions writing to the table at its read
            // still is (one still writing now was writing at every later read too: they clear in order).
            var due = readAt - Ticks(_options.ClaimFloorLag);
            foreach (var candidate in _floorCandidates)
            {
                if (candidate.Cleared)
                {
                    continue;
                }

                if (candidate.ReadAt > due || candidate.Writers.AsSpan().ContainsAny(writers))
                {
                    break;
                }

                candidate.Cleared = true;
            }

            Interlocked.Exchange(ref _nextFloorRefresh, startedAt + Ticks(_options.ClaimFloorRefreshInterval));
            Interlocked.Increment(ref _floorReads);
            if (_floorReadFailures > 0)
            {
                PostgreSqlStoreLog.FloorReadRecovered(_logger, _floorReadFailures);
                _floorReadFailures = 0;
            }
        }
        catch (Exception ex) when (!_disposed.IsCancellationRequested)
        {
            // The claims keep the floor they had (it never skips a row that was there when it was read), and the read
            // is tried again at the next refresh. The first failure of a run is a warning; the claims report an
            // unreachable database themselves.
            if (_floorReadFailures++ == 0)
            {
                PostgreSqlStoreLog.FloorReadFailed(_logger, ex);
            }

            Interlocked.Exchange(ref _nextFloorRefresh, startedAt + Ticks(_options.ClaimFloorRefreshInterval));
        }
        catch (Exception)
        {
            // The store is shutting down.
        }
        finally
        {
            Volatile.Write(ref _readingFloor, 0);
        }
    }

    /// <summary>
    /// A write statement (claim, acknowledgement, release, dead-letter move) as a batch of its own: Npgsql sends the
    /// commands of a batch in one round trip with one Sync, so PostgreSQL runs them as one transaction, and a pooler in
    /// transaction mode keeps them on one server connection. Unless <see cref="OutboxPostgreSqlOptions.SynchronousCommit"/>,
    /// the batch first turns <c>synchronous_commit</c> off for that transaction alone (<c>set_config(..., true)</c>,
    /// which unlike <c>SET LOCAL</c> warns of nothing outside <c>BEGIN</c>); it is read at the commit and is gone after
    /// it, so no setting outlives the statement and nothing is asked of the connection (no startup parameter, no
    /// session state) that a pooler would refuse or hand on to someone else.
    /// </summary>
    private NpgsqlBatch CreateWrite(Statements s, string sql, out NpgsqlBatchCommand command)
    {
        var batch = s.DataSource.CreateBatch();
        if (!_options.SynchronousCommit)
        {
            batch.BatchCommands.Add(new NpgsqlBatchCommand(AsynchronousCommit));
        }

        command = new NpgsqlBatchCommand(sql);
        batch.BatchCommands.Add(command);
        return batch;
    }

    private long Ticks(TimeSpan interval) => (long)(interval.TotalSeconds * _time.TimestampFrequency);

    public async Task AcknowledgeAsync(Guid owner, IReadOnlyCollection<long> positions, CancellationToken cancellationToken)
    {
        if (positions.Count == 0)
        {
            return;
        }

        var s = _statements.Value;
        using var batch = CreateWrite(s, s.Acknowledge, out var command);
        command.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = [.. positions] });
        command.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = owner });
        await batch.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task ReleaseAsync(Guid owner, IReadOnlyList<OutboxRelease> releases, CancellationToken cancellationToken)
    {
        if (releases.Count == 0)
        {
            return;
        }

        var ids = new long[releases.Count];
        var delays = new double[releases.Count];
        var errors = new string?[releases.Count];
        var refunds = new int[releases.Count];
        for (var i = 0; i < releases.Count; i++)
        {
            ids[i] = releases[i].Position;
            delays[i] = releases[i].Delay.TotalMilliseconds;
            errors[i] = releases[i].Error;
            refunds[i] = releases[i].RefundAttempt ? 1 : 0;
        }

        var s = _statements.Value;
        using var batch = CreateWrite(s, s.Release, out var command);
        command.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = ids });
        command.Parameters.Add(new NpgsqlParameter<double[]> { TypedValue = delays });
        command.Parameters.Add(new NpgsqlParameter<string?[]> { TypedValue = errors, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
        command.Parameters.Add(new NpgsqlParameter<int[]> { TypedValue = refunds });
        command.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = owner });
        await batch.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task DeadLetterAsync(Guid owner, IReadOnlyList<OutboxDeadLetter> deadLetters, CancellationToken cancellationToken)
    {
        if (deadLetters.Count == 0)
        {
            return;
        }

        var ids = new long[deadLetters.Count];
        var reasons = new string[deadLetters.Count];
        for (var i = 0; i < deadLetters.Count; i++)
        {
            ids[i] = deadLetters[i].Position;
            reasons[i] = deadLetters[i].Reason;
        }

        var s = _statements.Value;
        using var batch = CreateWrite(s, s.DeadLetter, out var command);
        command.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = ids });
        command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = reasons });
        command.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = owner });
        await batch.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task<long> GetLastPositionAsync(CancellationToken cancellationToken)
    {
        var s = _statements.Value;
        using var command = s.DataSource.CreateCommand(s.LastPosition);
        return (long)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
    }

    public async Task<long> CountUndeliveredAsync(long upToPosition, CancellationToken cancellationToken)
    {
        var s = _statements.Value;
        using var command = s.DataSource.CreateCommand(s.CountUndelivered);
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = upToPosition });
        return (long)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
    }

    public async Task<OutboxBacklog> GetBacklogAsync(CancellationToken cancellationToken)
    {
        var s = _statements.Value;
        using var command = s.DataSource.CreateCommand(s.Backlog);
        var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            return new OutboxBacklog(
                reader.GetInt64(0),
                reader.IsDBNull(1) ? null : new DateTimeOffset(reader.GetDateTime(1), TimeSpan.Zero),
                reader.GetInt64(2),
                new DateTimeOffset(reader.GetDateTime(3), TimeSpan.Zero));
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _disposed.CancelAsync().ConfigureAwait(false);
        if (_statements.IsValueCreated)
        {
            await _statements.Value.DataSource.DisposeAsync().ConfigureAwait(false);
        }
    }

    public void Dispose()
    {
        _disposed.Cancel();
        if (_statements.IsValueCreated)
        {
            _statements.Value.DataSource.Dispose();
        }
    }

    private Statements Build()
    {
        var tables = _bootstrap.Tables;
        var builder = new NpgsqlConnectionStringBuilder(PostgreSqlConnectionStrings.For(_options, tables, typeof(TContext)));
        if (string.IsNullOrEmpty(builder.ApplicationName))
        {
            builder.ApplicationName = "outbox-dispatcher";
        }

        var t = tables.Outbox;
        var d = tables.DeadLetters;
        var writers = $"""
            ARRAY(SELECT l.virtualtransaction FROM pg_locks AS l
                  WHERE l.locktype = 'relation' AND l.mode = 'RowExclusiveLock' AND l.granted
                    AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                    AND l.relation = '{t.Replace("'", "''", StringComparison.Ordinal)}'::regclass)
            """;
        const string Available = "(t.available_at IS NULL OR t.available_at <= now()) AND (t.lease_expires_at IS NULL OR t.lease_expires_at <= now())";
        var headOfLine = OutboxOrderingSql.HeadOfLine(t, d, _dispatcher.AfterDeadLetter);
        return new Statements(
            NpgsqlDataSource.Create(builder.ConnectionString),
            Claim: $"""
                WITH c AS MATERIALIZED (
                    SELECT t.id FROM {t} AS t
                    WHERE t.id >= $4
                      AND {Available}
                      AND {headOfLine}
                    ORDER BY t.id
                    LIMIT $1
                    FOR UPDATE SKIP LOCKED)
                UPDATE {t} AS t
                SET lease_owner = $2, lease_expires_at = now() + $3, attempts = t.attempts + 1
                WHERE t.id = ANY(ARRAY(SELECT c.id FROM c))
                RETURNING {OutboxRowReader.ClaimColumnList("t", "octet_length", _dispatcher.MaxPayloadSize)}
                """,
            Acknowledge: $"DELETE FROM {t} WHERE id = ANY($1) AND lease_owner = $2",
            Release: $"""
                UPDATE {t} AS t
                SET lease_owner = NULL, lease_expires_at = NULL,
                    available_at = now() + r.delay_ms * interval '1 millisecond',
                    last_error = COALESCE(r.error, t.last_error),
                    attempts = t.attempts - r.refund
                FROM unnest($1::bigint[], $2::double precision[], $3::text[], $4::integer[]) AS r(id, delay_ms, error, refund)
                WHERE t.id = r.id AND t.lease_owner = $5
                """,
            DeadLetter: $"""
                WITH moved AS (
                    DELETE FROM {t} AS t
                    USING unnest($1::bigint[], $2::text[]) AS r(id, reason)
                    WHERE t.id = r.id AND t.lease_owner = $3
                    RETURNING t.id, t.message_id, t.destination, t.message_type, t.partition_key, t.sequence_number, t.payload,
                              t.content_type, t.headers, t.trace_parent, t.created_at, t.attempts, r.reason)
                INSERT INTO {d} (id, message_id, destination, message_type, partition_key, sequence_number, payload, content_type,
                                 headers, trace_parent, created_at, attempts, reason, dead_lettered_at)
                SELECT id, message_id, destination, message_type, partition_key, sequence_number, payload, content_type,
                       headers, trace_parent, created_at, attempts, reason, now()
                FROM moved
                """,
            LastPosition: $"SELECT COALESCE(max(id), 0) FROM {t}",
            // The lowest id, then the transactions holding the table's write lock, taken by an INSERT before it
            // takes an id and held to its end (read after this statement's snapshot: they include every transaction
            // that had taken an id and not committed when the snapshot was taken, save those that ended since).
            LowestId: $"SELECT (SELECT min(id) FROM {t}), {writers}",
            LowestIdFrom: $"SELECT (SELECT min(id) FROM {t} WHERE id >= $1), {writers}",
            CountUndelivered: $"SELECT count(*) FROM {t} AS t WHERE t.id <= $1 AND NOT (t.attempts = 0 AND t.available_at IS NOT NULL AND t.available_at > now())",
            Backlog: $"""
                SELECT (SELECT count(*) FROM (SELECT 1 FROM {t} LIMIT {OutboxBacklog.CountCap}) AS p),
                       (SELECT created_at FROM {t} ORDER BY id LIMIT 1),
                       (SELECT count(*) FROM (SELECT 1 FROM {d} LIMIT {OutboxBacklog.CountCap}) AS x),
                       now()
                """);
    }

    /// <summary>A lowest id read, with the transactions that were writing to the table at that read.</summary>
    private sealed class FloorCandidate(long readAt, long floor, string[] writers)
    {
        public long ReadAt { get; } = readAt;

        public long Floor { get; } = floor;

        public string[] Writers { get; } = writers;

        /// <summary>Every one of <see cref="Writers"/> had ended at a later read.</summary>
        public bool Cleared { get; set; }
    }

    private sealed record Statements(
        NpgsqlDataSource DataSource,
        string Claim,
        string Acknowledge,
        string Release,
        string DeadLetter,
        string LastPosition,
        string LowestId,
        string LowestIdFrom,
        string CountUndelivered,
        string Backlog);
}

internal static partial class PostgreSqlStoreLog
{
    [LoggerMessage(EventId = 1111, Level = LogLevel.Warning, Message = "Reading the outbox claim floor failed; claims keep the floor they have (they may scan more) and the read is retried.")]
    public static partial void FloorReadFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 1112, Level = LogLevel.Information, Message = "The outbox claim floor is read again after {Failures} failed read(s).")]
    public static partial void FloorReadRecovered(ILogger logger, int failures);
}
