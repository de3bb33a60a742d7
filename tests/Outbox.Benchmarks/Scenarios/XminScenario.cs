using System.Data;
using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Data.Sqlite;
using Npgsql;
using NpgsqlTypes;
using Outbox.Benchmarks.Infrastructure;
using Outbox.Benchmarks.Options;
using Outbox.Benchmarks.Reporting;

namespace Outbox.Benchmarks.Scenarios;

/// <summary>
/// <c>xmin</c>: does a long transaction elsewhere hurt the claim? The same steady load runs twice, each phase for
/// <c>--seconds</c> (default <c>--hold</c>): messages inserted in bulk at <c>--rate</c> per second on a short tick (rows
/// made by <c>Publish</c>, the dispatchers woken after each insert as an in-process publisher would) while the fleet
/// drains them. Phase A runs alone; in phase B another session holds a transaction open for <c>--hold</c> seconds:
/// on PostgreSQL <c>BEGIN ISOLATION LEVEL REPEATABLE READ</c> and a <c>SELECT</c> on the outbox, so its snapshot pins
/// the xmin horizon and no dead row version of the outbox can be removed (nor its index entries marked dead); on
/// SQLite <c>BEGIN</c> and a <c>SELECT</c>, a read transaction that keeps the WAL from being checkpointed and reset.
/// Reports the claim statement's latency per phase and the ratio of the p99s (target: at most 2).
/// </summary>
/// <remarks>
/// On PostgreSQL, near the end of each phase (phase B: while the transaction is still held) the claim statement the
/// dispatchers run, read from <c>pg_stat_activity</c>, is run under <c>EXPLAIN (ANALYZE, BUFFERS)</c> inside a
/// transaction that is rolled back, and its execution time and buffers are reported. At the end every inserted
/// message must have been delivered (the run fails otherwise).
/// </remarks>
public static partial class XminScenario
{
    public const double TargetClaimP99Ratio = 2;
    private const string HolderApplicationName = "outbox-bench-xmin-holder";
    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(20);
    private static readonly TimeSpan WarmupDuration = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(10);

    public static async Task RunAsync(BenchContext context, BenchDatabase database, Report report)
    {
        var options = context.Options;
        var ct = context.Cancellation;
        var log = context.Log;
        var hold = TimeSpan.FromSeconds(options.HoldSeconds);
        var seconds = TimeSpan.FromSeconds(options.Seconds ?? options.HoldSeconds);
        var transport = new NullTransport();

        await using var fleet = DispatcherFleet.Build(database, options, transport, log, wakeup: false);
        report.Set("dispatchers", fleet.Hosts)
            .Set("concurrency", fleet.Options.Concurrency)
            .Set("batch", fleet.Options.BatchSize)
            .Set("poll_ms", fleet.Options.PollingInterval.TotalMilliseconds)
            .Set("rate_target", options.Rate)
            .Set("hold_s", hold.TotalSeconds)
            .Set("phase_s", seconds.TotalSeconds)
            .Set("tick_ms", Tick.TotalMilliseconds)
            .Set("latency_of", "claim statement");
        await fleet.StartAsync(ct);
        var producer = new TickProducer(database, fleet, transport, options.Rate);

        if (options.Warmup)
        {
            await log.WriteLineAsync($"Warm-up: {WarmupDuration.TotalSeconds:0} s at {options.Rate}/s (not measured) ...");
            await producer.RunAsync(WarmupDuration, ct);
            await DrainAsync(producer, transport, database, context);
        }

        transport.Reset();
        producer.Reset();
        var without = await RunPhaseAsync("without", seconds, hold: null, fleet, producer, transport, database, context);
        var with = await RunPhaseAsync("with", seconds, hold, fleet, producer, transport, database, context);
        await fleet.StopAsync();

        // Everything inserted must have been delivered, once.
        var delivered = transport.Delivered;
        var inserted = producer.Inserted;
        var left = await database.CountOutboxAsync(ct);
        report.Set("inserted", inserted).Set("delivered", delivered).Set("duplicates", Math.Max(0, delivered - inserted)).Set("left_in_outbox", left);
        if (delivered < inserted || left != 0)
        {
            report.Fail($"{inserted:N0} messages were inserted but {delivered:N0} delivered, and {left:N0} are left in the outbox.");
        }

        Describe(report, database.Provider, without, with, hold, options.Rate);
    }

    private static async Task<Phase> RunPhaseAsync(
        string name,
        TimeSpan duration,
        TimeSpan? hold,
        DispatcherFleet fleet,
        TickProducer producer,
        NullTransport transport,
        BenchDatabase database,
        BenchContext context)
    {
        var ct = context.Cancellation;
        var log = context.Log;
        await database.PrepareForRunAsync(ct);
        await using var holder = hold is null ? null : await Holder.OpenAsync(database, ct);
        var label = hold is null ? "without open transaction" : $"with a transaction open for {hold.Value.TotalSeconds:0} s";
        await log.WriteLineAsync($"Phase {(hold is null ? "A" : "B")}, {label}: {producer.Rate}/s for {duration.TotalSeconds:0} s ...");

        fleet.Stats.Reset();
        producer.ResetPhase();
        var insertedBefore = producer.Inserted;
        var deliveredBefore = transport.Delivered;
        var cpu = CpuSample.Take();
        var started = Stopwatch.GetTimestamp();
        fleet.Stats.BeginPhase();
        // A hold shorter than the phase ends on its own; otherwise the transaction is released at the phase's end, after the
        // end-of-phase figures were taken with it still open.
        var release = hold is { } h && h < duration ? holder?.ReleaseAfterAsync(h) : null;
        await using var monitor = PhaseMonitor.Start(token => MonitorAsync(name, started, fleet, producer, transport, database, holder, log, token));

        await producer.RunAsync(duration, ct);
        var end = CpuSample.Take();
        fleet.Stats.EndPhase();
        var loadSeconds = Stopwatch.GetElapsedTime(started, end.Timestamp).TotalSeconds;
        var deliveredInWindow = transport.Delivered - deliveredBefore;
        var latency = fleet.Stats.ClaimLatency;
        var claim = new Percentiles(
            latency.Count,
            latency.PercentileMs(50),
            latency.PercentileMs(95),
            latency.PercentileMs(99),
            latency.PercentileMs(99.9),
            latency.MaxMs,
            latency.MeanMs);
        var claims = fleet.Stats.Claims;
        var empty = fleet.Stats.EmptyClaims;
        var rows = fleet.Stats.ClaimedRows;

        // The state the claims face at the end of the load (phase B: the transaction still held).
        var stats = await TableStats.ReadAsync(database, ct);
        var xminAge = holder is null ? null : await holder.XminAgeAsync(ct);
        var explain = database is PostgresBenchDatabase pg ? await ExplainClaimAsync(pg, fleet.Options.BatchSize, ct) : null;
        var held = holder is null ? (TimeSpan?)null : await holder.ReleaseAsync();
        if (release is not null)
        {
            await release;
        }

        var drainStarted = Stopwatch.GetTimestamp();
        await DrainAsync(producer, transport, database, context);
        var drain = Stopwatch.GetElapsedTime(drainStarted);
        await log.WriteLineAsync(
            $"  [{name}] done: claim p50/p99/max {Report.Number(claim.P50)}/{Report.Number(claim.P99)}/{Report.Number(claim.Max)} ms; " +
            (explain is null ? "" : $"EXPLAIN of the claim: {Report.Number(explain.ExecutionMs)} ms, {Report.Number(explain.SharedBuffers)} shared buffers; ") +
            $"backlog drained in {drain.TotalSeconds:0.0} s after the load.");

        return new Phase(
            Name: name,
            Seconds: loadSeconds,
            Inserted: producer.Inserted - insertedBefore,
            Delivered: deliveredInWindow,
            MaxWaiting: producer.MaxWaiting,
            MaxBehindMs: producer.MaxBehindMs,
            Claims: claims,
            EmptyClaims: empty,
            ClaimedRows: rows,
            Claim: claim,
            Stats: stats,
            XminAge: xminAge,
            Held: held,
            Explain: explain,
            DrainSeconds: drain.TotalSeconds,
            Cpu: end.CoresSince(cpu));
    }

    /// <summary>Every 5 s: the load, the claim p99 so far and the table's state.</summary>
    private static async Task MonitorAsync(
        string name,
        long started,
        DispatcherFleet fleet,
        TickProducer producer,
        NullTransport transport,
        BenchDatabase database,
        Holder? holder,
        TextWriter log,
        CancellationToken stop)
    {
        try
        {
            var claims = fleet.Stats.Claims;
            var claimTime = fleet.Stats.ClaimTime;
            while (true)
            {
                await Task.Delay(TimeSpan.FromSeconds(5), stop);
                try
                {

                // The mean claim of the last interval shows the trend that the phase's cumulative p99 smooths over.
                var claimsNow = fleet.Stats.Claims;
                var claimTimeNow = fleet.Stats.ClaimTime;
                double? recentMean = claimsNow > claims ? (claimTimeNow - claimTime).TotalMilliseconds / (claimsNow - claims) : null;
                (claims, claimTime) = (claimsNow, claimTimeNow);
                var stats = await TableStats.ReadAsync(database, stop);
                var xmin = holder is null ? null : await holder.XminAgeAsync(stop);
                // No EXPLAIN here: reading the floor for it walks every dead index entry, a load the measured claims
                // would feel. It runs once at the end of each phase, after the phase's latencies are taken.
                var t = Stopwatch.GetElapsedTime(started).TotalSeconds;
                var db = database.Provider == BenchProvider.Postgres
                    ? $"dead tuples {Report.Number(stats.DeadTuples)}, table+index {Report.Number(TableStats.Megabytes(stats.TotalBytes))} MB" +
                      (xmin is null ? "" : $", holder's xmin age {xmin:N0}")
                    : $"WAL {Report.Number(TableStats.Megabytes(stats.WalBytes))} MB";
                lock (log)
                {
                    log.WriteLine(
                        $"  [{name}] {t,6:0.0}s  inserted {producer.Inserted,10:N0}  delivered {transport.Delivered,10:N0}  " +
                        $"waiting {producer.Inserted - transport.Delivered,7:N0}  claim mean (last 5 s) {Report.Number(recentMean)} ms, " +
                        $"p99 so far {Report.Number(fleet.Stats.ClaimLatency.PercentileMs(99))} ms;  {db}");
                }
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    lock (log)
                    {
                        log.WriteLine($"  [{name}] monitor: {ex.GetType().Name}: {ex.Message}");
                    }
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // Phase over.
        }
    }

    private static async Task DrainAsync(TickProducer producer, NullTransport transport, BenchDatabase database, BenchContext context)
    {
        var ct = context.Cancellation;
        producer.Wake();
        await Wait.UntilAsync(() => transport.Delivered >= producer.Inserted, Poll, context.Timeout, "every inserted message was delivered", ct);
        await Wait.UntilAsync(() => database.IsOutboxEmptyAsync(ct), Poll, context.Timeout, "the outbox table was empty", ct);
    }

    private static void Describe(Report report, BenchProvider provider, Phase a, Phase b, TimeSpan hold, int rate)
    {
        var postgres = provider == BenchProvider.Postgres;
        double? ratio = b.Claim.P99 / a.Claim.P99;
        report.Set("messages", b.Inserted)
            .Set("seconds", b.Seconds)
            .Set("msgs_per_s", b.Inserted / b.Seconds)
            .Set("p50_ms", b.Claim.P50)
            .Set("p95_ms", b.Claim.P95)
            .Set("p99_ms", b.Claim.P99)
            .Set("max_ms", b.Claim.Max)
            .Set("p999_ms", b.Claim.P999)
            .Set("mean_ms", b.Claim.Mean)
            .Set("claim_without_p50_ms", a.Claim.P50)
            .Set("claim_without_p95_ms", a.Claim.P95)
            .Set("claim_without_p99_ms", a.Claim.P99)
            .Set("claim_without_p999_ms", a.Claim.P999)
            .Set("claim_without_max_ms", a.Claim.Max)
            .Set("claim_without_mean_ms", a.Claim.Mean)
            .Set("claim_p99_ratio", ratio)
            .Set("target_claim_p99_ratio", TargetClaimP99Ratio)
            .Set("target_met", ratio is null ? null : ratio <= TargetClaimP99Ratio)
            .Set("delivered_msgs_per_s", b.Delivered / b.Seconds)
            .Set("without_messages", a.Inserted)
            .Set("without_seconds", a.Seconds)
            .Set("without_msgs_per_s", a.Inserted / a.Seconds)
            .Set("without_delivered_msgs_per_s", a.Delivered / a.Seconds)
            .Set("claims", b.Claims)
            .Set("empty_claims", b.EmptyClaims)
            .Set("without_claims", a.Claims)
            .Set("without_empty_claims", a.EmptyClaims)
            .Set("max_waiting", b.MaxWaiting)
            .Set("without_max_waiting", a.MaxWaiting)
            .Set("producer_max_behind_ms", Math.Max(a.MaxBehindMs, b.MaxBehindMs))
            .Set("held_s", b.Held?.TotalSeconds)
            .Set("drain_after_hold_s", b.DrainSeconds)
            .Set("table_mb", TableStats.Megabytes(b.Stats.TableBytes))
            .Set("index_mb", TableStats.Megabytes(b.Stats.IndexBytes))
            .Set("without_table_mb", TableStats.Megabytes(a.Stats.TableBytes))
            .Set("without_index_mb", TableStats.Megabytes(a.Stats.IndexBytes))
            .Set("cpu_self_cores", b.Cpu.Self)
            .Set("cpu_db_cores", b.Cpu.Server)
            .Set("cpu_others_cores", b.Cpu.Others)
            .Set("without_cpu_self_cores", a.Cpu.Self)
            .Set("without_cpu_db_cores", a.Cpu.Server)
            .Set("without_cpu_others_cores", a.Cpu.Others);
        if (postgres)
        {
            report.Set("dead_tuples", b.Stats.DeadTuples)
                .Set("without_dead_tuples", a.Stats.DeadTuples)
                .Set("total_mb", TableStats.Megabytes(b.Stats.TotalBytes))
                .Set("without_total_mb", TableStats.Megabytes(a.Stats.TotalBytes))
                .Set("holder_xmin_age", b.XminAge)
                .Set("explain_claim_ms", b.Explain?.ExecutionMs)
                .Set("explain_claim_shared_buffers", b.Explain?.SharedBuffers)
                .Set("without_explain_claim_ms", a.Explain?.ExecutionMs)
                .Set("without_explain_claim_shared_buffers", a.Explain?.SharedBuffers);
        }
        else
        {
            report.Set("wal_mb", TableStats.Megabytes(b.Stats.WalBytes))
                .Set("without_wal_mb", TableStats.Megabytes(a.Stats.WalBytes))
                .Set("used_mb", TableStats.Megabytes(b.Stats.TotalBytes))
                .Set("without_used_mb", TableStats.Megabytes(a.Stats.TotalBytes))
                .Set("file_mb", TableStats.Megabytes(b.Stats.FileBytes))
                .Set("without_file_mb", TableStats.Megabytes(a.Stats.FileBytes));
        }

        report.AddRow(
        [
            "phase", "seconds", "inserted", "msg/s", "delivered/s", "max waiting", "claims", "empty", "claim p50 ms", "p95", "p99", "p99.9", "max",
            .. postgres ? new[] { "dead tuples", "table MB", "index MB", "EXPLAIN ms", "buffers" } : ["WAL MB", "used MB", "file MB"],
            "cpu self", "db", "others",
        ]);
        foreach (var p in new[] { a, b })
        {
            report.AddRow(
            [
                p.Held is null ? "A: no open transaction" : $"B: transaction open {p.Held.Value.TotalSeconds:0} s",
                p.Seconds.ToString("0.0", CultureInfo.InvariantCulture),
                Report.Number(p.Inserted),
                Report.Number(p.Inserted / p.Seconds),
                Report.Number(p.Delivered / p.Seconds),
                Report.Number(p.MaxWaiting),
                Report.Number(p.Claims),
                Report.Number(p.EmptyClaims),
                Ms(p.Claim.P50),
                Ms(p.Claim.P95),
                Ms(p.Claim.P99),
                Ms(p.Claim.P999),
                Ms(p.Claim.Max),
                .. postgres
                    ? new[] { Report.Number(p.Stats.DeadTuples), Mb(p.Stats.TableBytes), Mb(p.Stats.IndexBytes), Ms(p.Explain?.ExecutionMs), Report.Number(p.Explain?.SharedBuffers) }
                    : [Mb(p.Stats.WalBytes), Mb(p.Stats.TotalBytes), Mb(p.Stats.FileBytes)],
                Cores(p.Cpu.Self),
                Cores(p.Cpu.Server),
                Cores(p.Cpu.Others),
            ]);
        }

        report.AddNote(
            $"Claim p99 with the open transaction / without: {Report.Number(b.Claim.P99)} / {Report.Number(a.Claim.P99)} ms = {Report.Number(ratio)} " +
            $"(target <= {TargetClaimP99Ratio}: {(ratio <= TargetClaimP99Ratio ? "met" : "NOT met")}). Load: {rate}/s inserted in bulk every {Tick.TotalMilliseconds:0} ms, " +
            $"dispatchers woken after each insert; latency = the claim statement (empty claims included).");
        if (b.Held is { } held && held < hold)
        {
            report.AddNote($"The transaction was held {held.TotalSeconds:0} s, not {hold.TotalSeconds:0} s: it is released at the end of the phase (--seconds).");
        }

        report.AddNote(postgres
            ? $"At the end of each phase (B: transaction still open): dead tuples and sizes from pg_stat_user_tables / pg_relation_size; the holder's xmin was {Report.Number(b.XminAge)} transactions old. " +
              "EXPLAIN = the dispatchers' claim statement under EXPLAIN (ANALYZE, BUFFERS), rolled back; buffers = shared hit + read."
            : "At the end of each phase (B: read transaction still open): the WAL file, which the open read transaction keeps from being checkpointed and reset, and the database file.");
        if (postgres && b.Explain is null)
        {
            report.AddNote("EXPLAIN of the claim: not available (no complete claim statement found in pg_stat_activity; is track_activity_query_size too small?).");
        }

        if (b.Explain is not null)
        {
            report.AddNote("EXPLAIN (ANALYZE, BUFFERS) of the claim with the transaction open:" + Environment.NewLine + b.Explain.Plan);
        }

        if (a.Explain is not null)
        {
            report.AddNote("EXPLAIN (ANALYZE, BUFFERS) of the claim without it:" + Environment.NewLine + a.Explain.Plan);
        }

        var disturbed = new[] { a, b }.Count(p => p.Cpu.Others > 0.2);
        report.Set("disturbed_phases", disturbed);
        if (disturbed > 0)
        {
            report.AddNote($"WARNING: {disturbed} phase(s) shared the machine with other work (others > 0.2 cores): compare the latencies with care.");
        }
    }

    /// <summary>
    /// Runs the claim statement the dispatchers run (its text read from <c>pg_stat_activity</c>, so it is the library's
    /// own) under <c>EXPLAIN (ANALYZE, BUFFERS)</c> in a transaction that is rolled back: no row stays claimed.
    /// Null when the text is not available (no claim seen yet, or truncated by <c>track_activity_query_size</c>).
    /// </summary>
    private static async Task<Explained?> ExplainClaimAsync(PostgresBenchDatabase database, int batch, CancellationToken cancellationToken)
    {
        string? sql;
        await using (var find = database.DataSource.CreateCommand(
            "SELECT query FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() " +
            "AND query LIKE 'WITH c AS MATERIALIZED%' AND query LIKE '%FOR UPDATE SKIP LOCKED%' AND query LIKE '%RETURNING%' LIMIT 1"))
        {
            sql = await find.ExecuteScalarAsync(cancellationToken) as string;
        }

        if (sql is null)
        {
            return null;
        }

        try
        {
            await using var connection = await database.DataSource.OpenConnectionAsync(cancellationToken);
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            await using var command = new NpgsqlCommand("EXPLAIN (ANALYZE, BUFFERS) " + sql, connection, transaction);
            command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = batch });
            command.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = Guid.NewGuid() });
            command.Parameters.Add(new NpgsqlParameter<TimeSpan> { TypedValue = TimeSpan.FromSeconds(30), NpgsqlDbType = NpgsqlDbType.Interval });
            if (sql.Contains("$4", StringComparison.Ordinal))
            {
                // The claim floor: the dispatchers scan from the lowest id they last read (or, the table being empty,
                // past the last id handed out). Approximated here by the same reading, taken now.
                await using var floor = new NpgsqlCommand(
                    $"SELECT COALESCE((SELECT min(id) FROM {database.Tables.Outbox}), " +
                    $"(SELECT nextval(pg_get_serial_sequence('{database.Tables.Outbox.Replace("'", "''", StringComparison.Ordinal)}', 'id'))))",
                    connection,
                    transaction);
                command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = (long)(await floor.ExecuteScalarAsync(cancellationToken))! });
            }

            var lines = new List<string>();
            await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
            {
                while (await reader.ReadAsync(cancellationToken))
                {
                    lines.Add(reader.GetString(0));
                }
            }

            await transaction.RollbackAsync(cancellationToken);
            double? executionMs = null;
            long? buffers = null;
            foreach (var line in lines)
            {
                if (ExecutionTime().Match(line) is { Success: true } time)
                {
                    executionMs = double.Parse(time.Groups[1].Value, CultureInfo.InvariantCulture);
                }

                // The first Buffers line is the top node's: the statement's total.
                if (buffers is null && line.TrimStart().StartsWith("Buffers:", StringComparison.Ordinal))
                {
                    buffers = SharedBuffers().Matches(line).Sum(m => long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture));
                }
            }

            return new Explained(executionMs, buffers, string.Join(Environment.NewLine, lines.Select(l => "    " + l)));
        }
        catch (PostgresException ex)
        {
            return new Explained(null, null, $"    (EXPLAIN failed: {ex.MessageText})");
        }
    }

    [GeneratedRegex(@"Execution Time: ([0-9.]+) ms")]
    private static partial Regex ExecutionTime();

    [GeneratedRegex(@"shared (?:hit|read)=([0-9]+)")]
    private static partial Regex SharedBuffers();

    private static string Mb(long? bytes) => TableStats.Megabytes(bytes)?.ToString("0.0", CultureInfo.InvariantCulture) ?? "-";

    private static string Ms(double? value) => value?.ToString("0.00", CultureInfo.InvariantCulture) ?? "-";

    private static string Cores(double? value) => value?.ToString("0.00", CultureInfo.InvariantCulture) ?? "-";

    /// <summary>Runs a monitor loop until disposed (also when the phase fails).</summary>
    private sealed class PhaseMonitor : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private Task _loop = Task.CompletedTask;

        public static PhaseMonitor Start(Func<CancellationToken, Task> loop)
        {
            var monitor = new PhaseMonitor();
            monitor._loop = loop(monitor._stop.Token);
            return monitor;
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await _loop;
            _stop.Dispose();
        }
    }

    private sealed record Percentiles(long Count, double? P50, double? P95, double? P99, double? P999, double? Max, double? Mean);

    private sealed record Explained(double? ExecutionMs, long? SharedBuffers, string Plan);

    private sealed record Phase(
        string Name,
        double Seconds,
        long Inserted,
        long Delivered,
        long MaxWaiting,
        double MaxBehindMs,
        long Claims,
        long EmptyClaims,
        long ClaimedRows,
        Percentiles Claim,
        TableStats Stats,
        long? XminAge,
        TimeSpan? Held,
        Explained? Explain,
        double DrainSeconds,
        CpuUsage Cpu);

    /// <summary>
    /// Inserts at a fixed rate on a short tick: each tick writes what is due in one bulk transaction (rows made by
    /// <c>Publish</c>) and wakes the dispatchers. A tick that falls behind catches up in the next (at most a second's
    /// worth at once), and nothing is inserted after the end, so a phase inserts rate x seconds messages.
    /// </summary>
    private sealed class TickProducer(BenchDatabase database, DispatcherFleet fleet, NullTransport transport, int rate)
    {
        private long _inserted;
        private long _maxWaiting;
        private double _maxBehindMs;

        public int Rate => rate;

        public long Inserted => Interlocked.Read(ref _inserted);

        public long MaxWaiting => Interlocked.Read(ref _maxWaiting);

        public double MaxBehindMs => _maxBehindMs;

        public void Reset()
        {
            Interlocked.Exchange(ref _inserted, 0);
            ResetPhase();
        }

        public void ResetPhase()
        {
            Interlocked.Exchange(ref _maxWaiting, 0);
            _maxBehindMs = 0;
        }

        public void Wake() => fleet.NotifyAll();

        public async Task RunAsync(TimeSpan duration, CancellationToken cancellationToken)
        {
            var started = Stopwatch.GetTimestamp();
            var total = (long)(duration.TotalSeconds * rate);
            var done = 0L;
            using var timer = new PeriodicTimer(Tick);
            while (done < total)
            {
                var elapsed = Stopwatch.GetElapsedTime(started);
                var due = Math.Min(total, (long)(elapsed.TotalSeconds * rate)) - done;
                if (due > 0)
                {
                    _maxBehindMs = Math.Max(_maxBehindMs, due * 1000.0 / rate);
                    var count = (int)Math.Min(due, Math.Max(rate, 1));
                    await database.PrefillAsync(count, cancellationToken);
                    done += count;
                    Interlocked.Add(ref _inserted, count);
                    fleet.NotifyAll();
                    var waiting = Inserted - transport.Delivered;
                    if (waiting > MaxWaiting)
                    {
                        Interlocked.Exchange(ref _maxWaiting, waiting);
                    }
                }

                if (done < total)
                {
                    await timer.WaitForNextTickAsync(cancellationToken);
                }
            }
        }
    }

    /// <summary>
    /// The other session: a transaction held open on its own connection, with a snapshot taken by a SELECT on the
    /// outbox (PostgreSQL: REPEATABLE READ, so the snapshot and its xmin live until the end; SQLite: a read transaction).
    /// Released after the hold, or at the end of the phase, whichever comes first.
    /// </summary>
    private sealed class Holder : IAsyncDisposable
    {
        private readonly BenchDatabase _database;
        private readonly IDbConnection _connection;
        private readonly IDbTransaction _transaction;
        private readonly long _opened = Stopwatch.GetTimestamp();
        private readonly CancellationTokenSource _released = new();
        private TimeSpan? _held;
        private int _closing;

        private Holder(BenchDatabase database, IDbConnection connection, IDbTransaction transaction)
        {
            _database = database;
            _connection = connection;
            _transaction = transaction;
        }

        public static async Task<Holder> OpenAsync(BenchDatabase database, CancellationToken cancellationToken)
        {
            switch (database)
            {
                case PostgresBenchDatabase pg:
                {
                    var builder = new NpgsqlConnectionStringBuilder(pg.ConnectionString) { ApplicationName = HolderApplicationName, Pooling = false };
                    var connection = new NpgsqlConnection(builder.ConnectionString);
                    await connection.OpenAsync(cancellationToken);
                    var transaction = await connection.BeginTransactionAsync(IsolationLevel.RepeatableRead, cancellationToken);
                    await using (var select = new NpgsqlCommand($"SELECT count(*) FROM {pg.Tables.Outbox}", connection, transaction))
                    {
                        await select.ExecuteScalarAsync(cancellationToken);
                    }

                    return new Holder(database, connection, transaction);
                }

                case SqliteBenchDatabase sqlite:
                {
                    var connection = await sqlite.OpenSqliteAsync(cancellationToken);
                    var transaction = connection.BeginTransaction(deferred: true);
                    await using (var select = connection.CreateCommand())
                    {
                        select.Transaction = transaction;
                        select.CommandText = $"SELECT count(*) FROM {sqlite.Tables.Outbox}";
                        await select.ExecuteScalarAsync(cancellationToken);
                    }

                    return new Holder(database, connection, transaction);
                }

                default:
                    throw new NotSupportedException(database.GetType().Name);
            }
        }

        /// <summary>Releases the transaction after <paramref name="hold"/>, unless the phase released it first.</summary>
        public async Task ReleaseAfterAsync(TimeSpan hold)
        {
            try
            {
                await Task.Delay(hold, _released.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            await ReleaseAsync();
        }

        /// <summary>Rolls the transaction back (once); returns how long it was held.</summary>
        public async Task<TimeSpan?> ReleaseAsync()
        {
            if (Interlocked.Exchange(ref _closing, 1) == 0)
            {
                _held = Stopwatch.GetElapsedTime(_opened);
                await _released.CancelAsync();
                switch (_transaction)
                {
                    case NpgsqlTransaction pg:
                        await pg.RollbackAsync();
                        break;
                    case SqliteTransaction sqlite:
                        await sqlite.RollbackAsync();
                        break;
                }
            }

            return _held;
        }

        /// <summary>PostgreSQL: how many transactions old the holder's xmin is (it grows while held); null on SQLite or once released.</summary>
        public async Task<long?> XminAgeAsync(CancellationToken cancellationToken)
        {
            if (_database is not PostgresBenchDatabase pg)
            {
                return null;
            }

            await using var command = pg.DataSource.CreateCommand(
                "SELECT max(age(backend_xmin)) FROM pg_stat_activity WHERE application_name = $1 AND backend_xmin IS NOT NULL");
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = HolderApplicationName });
            return await command.ExecuteScalarAsync(cancellationToken) is int age ? age : null;
        }

        public async ValueTask DisposeAsync()
        {
            await ReleaseAsync();
            _transaction.Dispose();
            _connection.Dispose();
            _released.Dispose();
        }
    }
}
