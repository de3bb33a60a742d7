using System.Diagnostics;
using System.Globalization;
using Outbox.Benchmarks.Infrastructure;
using Outbox.Benchmarks.Options;
using Outbox.Benchmarks.Reporting;

namespace Outbox.Benchmarks.Scenarios;

/// <summary>
/// <c>soak</c>: sustained load over N messages (default 10 million). A producer task keeps at most B messages waiting
/// in the outbox (<c>--backlog</c>), topping it up in bulk chunks (rows made by <c>Publish</c>, each chunk its own
/// transaction), while the dispatcher fleet drains it. Every <c>--report-every</c> delivered messages closes a
/// segment: its throughput, claim latency, the outbox table's size and dead tuples (PostgreSQL) or file, free pages and
/// WAL (SQLite), and this process's memory. The question is whether the table degrades with volume (bloat): the target
/// is that the last segment drains at least 90% as fast as the first.
/// </summary>
/// <remarks>
/// Every measured segment runs under the same conditions: the backlog is filled (unmeasured, then VACUUM / checkpoint)
/// before the clock starts, and the producer keeps running until the N-th delivery, so no segment drains an unfed
/// tail. What is left afterwards (at most B messages) is drained unmeasured and checked: everything inserted must be
/// delivered. Nothing is kept per message: counters, one timestamp per segment and one row of figures per segment.
/// </remarks>
public static class SoakScenario
{
    public const int DefaultMessages = 10_000_000;
    public const double TargetLastVsFirst = 0.9;
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(10);

    public static async Task RunAsync(BenchContext context, BenchDatabase database, Report report)
    {
        var options = context.Options;
        var ct = context.Cancellation;
        var log = context.Log;
        var messages = options.Messages ?? DefaultMessages;
        var every = Math.Min(options.ReportEvery, messages);
        var backlog = Math.Min(options.Backlog, messages);
        // SQLite has one writer: a big chunk would hold the write lock (and every claim) for long.
        var chunk = Math.Clamp(backlog / 10, Math.Min(1_000, backlog), database.Provider == BenchProvider.Sqlite ? 2_000 : 10_000);
        var clock = new SegmentClock(messages, every);
        var transport = new NullTransport();

        await using var fleet = DispatcherFleet.Build(database, options, transport, log, wakeup: false);
        var loops = fleet.Hosts * fleet.Options.Concurrency;
        report.Set("messages", messages)
            .Set("dispatchers", fleet.Hosts)
            .Set("concurrency", fleet.Options.Concurrency)
            .Set("batch", fleet.Options.BatchSize)
            .Set("loops", loops)
            .Set("poll_ms", fleet.Options.PollingInterval.TotalMilliseconds)
            .Set("report_every", every)
            .Set("segments", clock.Segments)
            .Set("backlog", backlog)
            .Set("producer_chunk", chunk);

        await fleet.Stats.PauseAsync();
        await fleet.StartAsync(ct);
        if (options.Warmup)
        {
            await WarmUpAsync(fleet, transport, database, backlog, context, report);
        }

        // Fill the backlog before the clock starts, so that the first segment starts like every later one.
        fleet.Stats.Reset();
        transport.Reset();
        var producer = new BacklogProducer(database, fleet, transport, backlog, chunk);
        await log.WriteLineAsync($"Filling the backlog: {backlog:N0} messages in chunks of {chunk:N0} (not measured) ...");
        await producer.FillAsync(ct);
        await database.PrepareForRunAsync(ct);
        var initial = await TableStats.ReadAsync(database, ct);

        await log.WriteLineAsync(
            $"Soak: {messages:N0} messages, a segment every {every:N0}, at most {backlog:N0} waiting; " +
            $"{fleet.Hosts} host(s) x {fleet.Options.Concurrency} loop(s), batch {fleet.Options.BatchSize} ...");
        transport.OnDelivered = clock.OnDelivered;
        var segments = new List<Segment>(clock.Segments);
        var cpuStart = CpuSample.Take();
        var started = Stopwatch.GetTimestamp();
        var segmentCpu = cpuStart;
        var segmentStarted = started;
        var claims = ClaimCounters.From(fleet.Stats);
        fleet.Stats.BeginPhase();
        fleet.Stats.Paused = false;
        fleet.NotifyAll();
        using var stop = new CancellationTokenSource();
        var producing = Task.Run(() => producer.RunAsync(stop.Token, ct), ct);
        try
        {
            await using var progress = Progress.Start(
                log,
                () =>
                {
                    var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
                    return $"  [soak] {seconds,7:0.0}s  delivered {clock.Delivered,12:N0} of {messages:N0}  ({clock.Delivered / seconds,8:N0} msg/s)  " +
                           $"waiting {producer.Inserted - transport.Delivered,9:N0}  rss {ResidentMegabytes(),6:0} MB";
                },
                TimeSpan.FromSeconds(5));
            for (var k = 0; k < clock.Segments; k++)
            {
                var index = k;
                await Wait.UntilAsync(
                    () => clock.EndOf(index) != 0 || producing.IsCompleted,
                    Poll,
                    context.Timeout,
                    $"segment {k + 1} of {clock.Segments} was delivered",
                    ct);
                if (clock.EndOf(k) == 0)
                {
                    await producing; // it stopped early: its exception says why
                    throw new InvalidOperationException("The producer stopped before the run was complete.");
                }

                var cpu = CpuSample.Take();
                var latency = fleet.Stats.ClaimLatency;
                var claimP50 = latency.PercentileMs(50);
                var claimP99 = latency.PercentileMs(99);
                var claimMax = latency.MaxMs;
                latency.Reset();
                var now = ClaimCounters.From(fleet.Stats);
                var stats = await TableStats.ReadAsync(database, ct);
                var end = clock.EndOf(k);
                var segment = new Segment(
                    Number: k + 1,
                    Delivered: clock.DeliveredAt(k),
                    Messages: clock.DeliveredAt(k) - (k == 0 ? 0 : clock.DeliveredAt(k - 1)),
                    Elapsed: Stopwatch.GetElapsedTime(segmentStarted, end),
                    ClaimP50: claimP50,
                    ClaimP99: claimP99,
                    ClaimMax: claimMax,
                    Claims: now - claims,
                    Waiting: producer.Inserted - transport.Delivered,
                    MinWaiting: producer.TakeMinWaiting(),
                    Loops: loops,
                    Db: stats,
                    RssMb: ResidentMegabytes(),
                    HeapMb: GC.GetTotalMemory(false) / (1024.0 * 1024.0),
                    Cpu: cpu.CoresSince(segmentCpu));
                segments.Add(segment);
                claims = now;
                segmentStarted = end;
                segmentCpu = cpu;
                lock (log)
                {
                    log.WriteLine(SegmentLine(segment, segments[0], database.Provider));
                }
            }
        }
        catch
        {
            // Stop the producer (after its current chunk) before the fleet and the database go away.
            await stop.CancelAsync();
            await Task.WhenAny(producing);
            throw;
        }

        var measured = Stopwatch.GetElapsedTime(started, clock.EndOf(clock.Segments - 1));
        var usage = CpuSample.Take().CoresSince(cpuStart);
        fleet.Stats.EndPhase();
        await stop.CancelAsync();
        await producing;

        // The tail: what the producer inserted beyond N is drained unmeasured, and everything must have arrived.
        await log.WriteLineAsync($"Draining the remaining {producer.Inserted - transport.Delivered:N0} messages (not measured) ...");
        try
        {
            await Wait.UntilAsync(() => transport.Delivered >= producer.Inserted, Poll, context.Timeout, "every inserted message was delivered", ct);
            await Wait.UntilAsync(() => database.IsOutboxEmptyAsync(ct), Poll, context.Timeout, "the outbox table was empty", ct);
        }
        catch (TimeoutException ex)
        {
            report.Fail($"{producer.Inserted - transport.Delivered:N0} of {producer.Inserted:N0} inserted messages were not delivered: {ex.Message}");
        }

        await fleet.StopAsync();
        var final = await TableStats.ReadAsync(database, ct);
        Describe(report, database.Provider, messages, measured, usage, segments, initial, final, producer, transport, fleet);
    }

    private static void Describe(
        Report report,
        BenchProvider provider,
        int messages,
        TimeSpan measured,
        CpuUsage usage,
        List<Segment> segments,
        TableStats initial,
        TableStats final,
        BacklogProducer producer,
        NullTransport transport,
        DispatcherFleet fleet)
    {
        var first = segments[0];
        var last = segments[^1];
        double? lastVsFirst = segments.Count > 1 ? last.Rate / first.Rate : null;
        var postgres = provider == BenchProvider.Postgres;
        report.Set("seconds", measured.TotalSeconds)
            .Set("msgs_per_s", messages / measured.TotalSeconds)
            .Set("first_segment_msgs_per_s", first.Rate)
            .Set("last_segment_msgs_per_s", last.Rate)
            .Set("min_segment_msgs_per_s", segments.Min(s => s.Rate))
            .Set("last_vs_first", lastVsFirst)
            .Set("target_last_vs_first", TargetLastVsFirst)
            .Set("target_met", lastVsFirst is null ? null : lastVsFirst >= TargetLastVsFirst)
            .Set("first_segment_claim_p99_ms", first.ClaimP99)
            .Set("last_segment_claim_p99_ms", last.ClaimP99)
            .Set("segment_msgs_per_s", segments.Select(s => Math.Round(s.Rate, 1)).ToList())
            .Set("segment_seconds", segments.Select(s => Math.Round(s.Elapsed.TotalSeconds, 3)).ToList())
            .Set("segment_claim_p99_ms", segments.Select(s => Math.Round(s.ClaimP99 ?? 0, 3)).ToList())
            .Set("segment_busy_pct", segments.Select(s => Math.Round(s.BusyPercent, 1)).ToList())
            .Set("segment_capacity_msgs_per_s", segments.Select(s => Math.Round(s.Capacity ?? 0, 1)).ToList())
            .Set("segment_claim_us_per_msg", segments.Select(s => Math.Round(s.ClaimMicrosecondsPerMessage ?? 0, 2)).ToList())
            .Set("segment_ack_us_per_msg", segments.Select(s => Math.Round(s.AckMicrosecondsPerMessage ?? 0, 2)).ToList())
            .Set("segment_min_waiting", segments.Select(s => (double)s.MinWaiting).ToList())
            .Set("first_segment_capacity_msgs_per_s", first.Capacity)
            .Set("last_segment_capacity_msgs_per_s", last.Capacity)
            .Set("capacity_last_vs_first", segments.Count > 1 ? last.Capacity / first.Capacity : null)
            .Set("segment_rss_mb", segments.Select(s => Math.Round(s.RssMb, 1)).ToList())
            .Set("max_table_mb", Max(segments, s => s.Db.TableBytes))
            .Set("max_index_mb", Max(segments, s => s.Db.IndexBytes))
            .Set("max_total_mb", Max(segments, s => s.Db.TotalBytes))
            .Set("start_table_mb", TableStats.Megabytes(initial.TableBytes))
            .Set("start_index_mb", TableStats.Megabytes(initial.IndexBytes))
            .Set("end_table_mb", TableStats.Megabytes(final.TableBytes))
            .Set("end_index_mb", TableStats.Megabytes(final.IndexBytes))
            .Set("start_total_mb", TableStats.Megabytes(initial.TotalBytes))
            .Set("end_total_mb", TableStats.Megabytes(final.TotalBytes))
            .Set("first_segment_rss_mb", first.RssMb)
            .Set("last_segment_rss_mb", last.RssMb)
            .Set("max_segment_rss_mb", segments.Max(s => s.RssMb))
            .Set("inserted", producer.Inserted)
            .Set("delivered", transport.Delivered)
            .Set("duplicates", Math.Max(0, transport.Delivered - producer.Inserted))
            .Set("producer_chunks", producer.Chunks)
            .Set("cpu_machine_cores", usage.Machine)
            .Set("cpu_self_cores", usage.Self)
            .Set("cpu_db_cores", usage.Server)
            .Set("cpu_others_cores", usage.Others)
            .Set("other_store_calls", fleet.Stats.OtherCalls);
        if (postgres)
        {
            report.Set("segment_total_mb", segments.Select(s => Math.Round(TableStats.Megabytes(s.Db.TotalBytes) ?? 0, 3)).ToList())
                .Set("segment_dead_tuples", segments.Select(s => (double)(s.Db.DeadTuples ?? 0)).ToList())
                .Set("max_dead_tuples", segments.Max(s => s.Db.DeadTuples))
                .Set("end_dead_tuples", final.DeadTuples)
                .Set("autovacuum_count", final.AutovacuumCount)
                .Set("autoanalyze_count", final.AutoanalyzeCount)
                .Set("last_autovacuum", final.LastAutovacuum?.ToString("O", CultureInfo.InvariantCulture));
        }
        else
        {
            report.Set("segment_file_mb", segments.Select(s => Math.Round(TableStats.Megabytes(s.Db.FileBytes) ?? 0, 3)).ToList())
                .Set("segment_wal_mb", segments.Select(s => Math.Round(TableStats.Megabytes(s.Db.WalBytes) ?? 0, 3)).ToList())
                .Set("max_file_mb", Max(segments, s => s.Db.FileBytes))
                .Set("max_free_mb", Max(segments, s => s.Db.FreeBytes))
                .Set("max_wal_mb", Max(segments, s => s.Db.WalBytes))
                .Set("end_file_mb", TableStats.Megabytes(final.FileBytes));
        }

        report.AddRow(
        [
            "segment", "delivered", "seconds", "msg/s", "vs first", "busy %", "capacity msg/s", "claim p50 ms", "claim p99 ms", "claim max ms",
            "claim us/msg", "ack us/msg", "avg batch", "min waiting",
            .. postgres ? new[] { "table MB", "index MB", "total MB", "live tuples", "dead tuples", "autovacuums" } : ["used MB", "free MB", "file MB", "WAL MB"],
            "RSS MB", "heap MB", "cpu self", "db", "others",
        ]);
        report.AddRow(
        [
            "start", "0", "", "", "", "", "", "", "", "", "", "", "", Report.Number(producer.Backlog),
            .. DbCells(initial, postgres),
            "", "", "", "", "",
        ]);
        foreach (var s in segments)
        {
            report.AddRow(
            [
                s.Number.ToString(CultureInfo.InvariantCulture),
                Report.Number(s.Delivered),
                s.Elapsed.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture),
                Report.Number(s.Rate),
                (s.Rate / first.Rate).ToString("0.00", CultureInfo.InvariantCulture),
                s.BusyPercent.ToString("0", CultureInfo.InvariantCulture),
                Report.Number(s.Capacity),
                Ms(s.ClaimP50),
                Ms(s.ClaimP99),
                Ms(s.ClaimMax),
                Report.Number(s.ClaimMicrosecondsPerMessage),
                Report.Number(s.AckMicrosecondsPerMessage),
                Report.Number(s.Claims.AverageBatch),
                Report.Number(s.MinWaiting),
                .. DbCells(s.Db, postgres),
                s.RssMb.ToString("0", CultureInfo.InvariantCulture),
                s.HeapMb.ToString("0", CultureInfo.InvariantCulture),
                Cores(s.Cpu.Self),
                Cores(s.Cpu.Server),
                Cores(s.Cpu.Others),
            ]);
        }

        report.AddRow(
        [
            "after drain", Report.Number(transport.Delivered), "", "", "", "", "", "", "", "", "", "", "", "0",
            .. DbCells(final, postgres),
            "", "", "", "", "",
        ]);

        report.AddNote(
            $"Soak: {messages:N0} messages in {measured.TotalSeconds:0.0} s ({messages / measured.TotalSeconds:N0} msg/s) with at most {producer.Backlog:N0} waiting; " +
            (lastVsFirst is null
                ? "one segment only (raise --messages or lower --report-every to compare segments)."
                : $"last segment {last.Rate:N0} msg/s vs first {first.Rate:N0} msg/s = {lastVsFirst:0.00} (target >= {TargetLastVsFirst}: {(lastVsFirst >= TargetLastVsFirst ? "met" : "NOT met")})."));
        report.AddNote(
            $"Producer: {producer.Inserted:N0} messages in {producer.Chunks:N0} bulk chunks (made by Publish, one transaction each); delivered {transport.Delivered:N0}" +
            (transport.Delivered > producer.Inserted ? $" ({transport.Delivered - producer.Inserted:N0} duplicates)." : "."));
        report.AddNote(
            postgres
                ? "Sizes: heap (pg_relation_size), indexes (pg_indexes_size), total with TOAST (pg_total_relation_size); tuples and autovacuums from pg_stat_user_tables (estimates)."
                : "Sizes: pages in use (page_count - freelist_count, all tables; only the outbox is busy), free pages, the database file (page_count x page_size), the WAL file.");
        report.AddNote(
            $"Memory: RSS {first.RssMb:0} MB after the first segment, {last.RssMb:0} MB after the last (max {segments.Max(s => s.RssMb):0} MB); " +
            "nothing is kept per message, so RSS should not grow with --messages.");
        report.AddNote(
            $"CPU columns are cores busy on average (of {Environment.ProcessorCount}): this process (producer + dispatchers), the database server, and others; " +
            "above ~0.2 others a neighbour disturbed the segment.");
        report.AddNote(
            "busy % = share of the dispatcher loops' time in claim, send phase and ack; capacity = the rate they would reach if never idle " +
            "(rows x loops / busy time); claim and ack us/msg = statement time per message. These show a slower drain even where the feeder, not the drain, set the rate " +
            "(approximate: a statement that straddles a segment's end counts in the next, so a short segment can show over 100%).");
        var fed = segments.Count(s => s.BusyPercent < 90 || s.MinWaiting == 0);
        report.Set("feeder_bound_segments", fed);
        if (fed > 0)
        {
            report.AddNote(
                $"Note: in {fed} of {segments.Count} segment(s) the dispatchers were idle part of the time (busy < 90% or the backlog ran dry): " +
                "there the producer, not the drain, set msg/s; compare capacity and us/msg, or raise --backlog.");
        }

        var disturbed = segments.Count(s => s.Cpu.Others > 0.2);
        report.Set("disturbed_segments", disturbed);
        if (disturbed > 0)
        {
            report.AddNote($"WARNING: {disturbed} of {segments.Count} segment(s) shared the machine with other work (others > 0.2 cores): compare them with care.");
        }
    }

    private static IEnumerable<string> DbCells(TableStats stats, bool postgres) => postgres
        ? [Mb(stats.TableBytes), Mb(stats.IndexBytes), Mb(stats.TotalBytes), Report.Number(stats.LiveTuples), Report.Number(stats.DeadTuples), Report.Number(stats.AutovacuumCount)]
        : [Mb(stats.TotalBytes), Mb(stats.FreeBytes), Mb(stats.FileBytes), Mb(stats.WalBytes)];

    private static async Task WarmUpAsync(DispatcherFleet fleet, NullTransport transport, BenchDatabase database, int backlog, BenchContext context, Report report)
    {
        // As drain does: rounds of a small drain until the JIT has settled (at least 3 s and 50 batches per loop).
        var ct = context.Cancellation;
        var loops = fleet.Hosts * fleet.Options.Concurrency;
        var round = Math.Min(backlog, Math.Max(5_000, 2 * fleet.Options.BatchSize * loops));
        var started = Stopwatch.GetTimestamp();
        var warmed = 0L;
        await context.Log.WriteLineAsync($"Warm-up: rounds of {round:N0} messages through {loops} loop(s), for at least 3 s ...");
        fleet.Stats.Reset();
        fleet.Stats.BeginPhase();
        var target = transport.Delivered;
        do
        {
            await database.PrefillAsync(round, ct);
            fleet.Stats.Paused = false;
            fleet.NotifyAll();
            warmed += round;
            target += round;
            await Wait.UntilAsync(() => transport.Delivered >= target, Poll, context.Timeout, "the warm-up messages were delivered", ct);
            await Wait.UntilAsync(() => database.IsOutboxEmptyAsync(ct), Poll, context.Timeout, "the warm-up left the outbox empty", ct);
            await fleet.Stats.PauseAsync();
        }
        while ((Stopwatch.GetElapsedTime(started) < TimeSpan.FromSeconds(3) || fleet.Stats.Claims < 50 * loops) && warmed < 50L * round);

        report.Set("warmup_messages", warmed).Set("warmup_s", Stopwatch.GetElapsedTime(started).TotalSeconds);
    }

    private static string SegmentLine(Segment s, Segment first, BenchProvider provider)
    {
        var db = provider == BenchProvider.Postgres
            ? $"table {Mb(s.Db.TableBytes)} MB, index {Mb(s.Db.IndexBytes)} MB, dead {Report.Number(s.Db.DeadTuples)}, autovacuums {Report.Number(s.Db.AutovacuumCount)}"
            : $"used {Mb(s.Db.TotalBytes)} MB, free {Mb(s.Db.FreeBytes)} MB, file {Mb(s.Db.FileBytes)} MB, WAL {Mb(s.Db.WalBytes)} MB";
        return $"  [soak] segment {s.Number}: {s.Delivered:N0} delivered, {s.Elapsed.TotalSeconds:0.0} s, {s.Rate:N0} msg/s ({s.Rate / first.Rate:0.00} of first), " +
               $"claim p99 {Ms(s.ClaimP99)} ms; {db}; RSS {s.RssMb:0} MB";
    }

    private static double? Max(List<Segment> segments, Func<Segment, long?> bytes) => TableStats.Megabytes(segments.Max(bytes));

    private static string Mb(long? bytes) => TableStats.Megabytes(bytes)?.ToString("0.0", CultureInfo.InvariantCulture) ?? "-";

    private static string Ms(double? value) => value?.ToString("0.00", CultureInfo.InvariantCulture) ?? "-";

    private static string Cores(double? value) => value?.ToString("0.00", CultureInfo.InvariantCulture) ?? "-";

    /// <summary>This process's resident set now, in MiB (VmRSS; the working set off Linux).</summary>
    internal static double ResidentMegabytes()
    {
        const string status = "/proc/self/status";
        if (File.Exists(status))
        {
            foreach (var line in File.ReadLines(status))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                {
                    return long.Parse(line["VmRSS:".Length..].Replace("kB", "", StringComparison.Ordinal).Trim(), CultureInfo.InvariantCulture) / 1024.0;
                }
            }
        }

        using var process = Process.GetCurrentProcess();
        return process.WorkingSet64 / (1024.0 * 1024.0);
    }

    /// <summary>
    /// Counts deliveries (from the null transport's callback) and stamps the moment each segment's last message was
    /// delivered: one counter and one timestamp per segment, nothing per message.
    /// </summary>
    private sealed class SegmentClock(int messages, int every)
    {
        private readonly long[] _ends = new long[(messages + every - 1) / every];
        private long _delivered;

        public int Segments => _ends.Length;

        public long Delivered => Interlocked.Read(ref _delivered);

        /// <summary>The Stopwatch timestamp at which segment <paramref name="k"/> was complete, 0 while it is not.</summary>
        public long EndOf(int k) => Volatile.Read(ref _ends[k]);

        /// <summary>Messages delivered when segment <paramref name="k"/> was complete.</summary>
        public long DeliveredAt(int k) => Math.Min((long)(k + 1) * every, messages);

        public void OnDelivered(OutboxMessage message, long timestamp)
        {
            var n = Interlocked.Increment(ref _delivered);
            if (n <= messages && (n % every == 0 || n == messages))
            {
                Volatile.Write(ref _ends[(n - 1) / every], timestamp);
            }
        }
    }

    /// <summary>
    /// Keeps the outbox topped up: whenever fewer than backlog - chunk messages wait (inserted - delivered), writes
    /// another chunk in bulk (rows made by <c>Publish</c>, one transaction) and wakes the dispatchers, as an
    /// in-process publisher's commit would.
    /// </summary>
    private sealed class BacklogProducer(BenchDatabase database, DispatcherFleet fleet, NullTransport transport, int backlog, int chunk)
    {
        private long _inserted;
        private long _chunks;
        private long _minWaiting = long.MaxValue;

        public int Backlog => backlog;

        /// <summary>The fewest messages seen waiting since the last call: 0 means the dispatchers ran dry (the feeder was the bottleneck).</summary>
        public long TakeMinWaiting()
        {
            var min = Interlocked.Exchange(ref _minWaiting, long.MaxValue);
            return min == long.MaxValue ? Inserted - transport.Delivered : min;
        }

        public long Inserted => Interlocked.Read(ref _inserted);

        public long Chunks => Interlocked.Read(ref _chunks);

        /// <summary>Fills the outbox up to the backlog (the dispatchers paused).</summary>
        public async Task FillAsync(CancellationToken cancellationToken)
        {
            while (Inserted < backlog)
            {
                await InsertAsync((int)Math.Min(chunk, backlog - Inserted), cancellationToken);
            }
        }

        /// <summary>Tops up until <paramref name="stop"/>; a chunk already started is always finished and counted.</summary>
        public async Task RunAsync(CancellationToken stop, CancellationToken cancellationToken)
        {
            while (!stop.IsCancellationRequested)
            {
                var waiting = Inserted - transport.Delivered;
                if (waiting < Interlocked.Read(ref _minWaiting))
                {
                    Interlocked.Exchange(ref _minWaiting, waiting);
                }

                if (waiting <= backlog - chunk)
                {
                    await InsertAsync(chunk, cancellationToken);
                    fleet.NotifyAll();
                    waiting = Inserted - chunk - transport.Delivered; // what the dispatchers had left when the chunk landed
                    if (waiting < Interlocked.Read(ref _minWaiting))
                    {
                        Interlocked.Exchange(ref _minWaiting, Math.Max(0, waiting));
                    }
                }
                else
                {
                    await Task.Delay(2, cancellationToken);
                }
            }
        }

        private async Task InsertAsync(int count, CancellationToken cancellationToken)
        {
            await database.PrefillAsync(count, cancellationToken);
            Interlocked.Add(ref _inserted, count);
            Interlocked.Increment(ref _chunks);
        }
    }

    /// <summary>The fleet's cumulative store counters, to take differences per segment.</summary>
    private readonly record struct ClaimCounters(long Claims, long Empty, long Rows, long AckedRows, TimeSpan ClaimTime, TimeSpan SendTime, TimeSpan AckTime)
    {
        public double? AverageBatch => Claims == Empty ? null : (double)Rows / (Claims - Empty);

        public TimeSpan Busy => ClaimTime + SendTime + AckTime;

        public static ClaimCounters From(StoreStats stats) =>
            new(stats.Claims, stats.EmptyClaims, stats.ClaimedRows, stats.AckedRows, stats.ClaimTime, stats.SendPhaseTime, stats.AckTime);

        public static ClaimCounters operator -(ClaimCounters a, ClaimCounters b) => new(
            a.Claims - b.Claims, a.Empty - b.Empty, a.Rows - b.Rows, a.AckedRows - b.AckedRows, a.ClaimTime - b.ClaimTime, a.SendTime - b.SendTime, a.AckTime - b.AckTime);
    }

    private sealed record Segment(
        int Number,
        long Delivered,
        long Messages,
        TimeSpan Elapsed,
        double? ClaimP50,
        double? ClaimP99,
        double? ClaimMax,
        ClaimCounters Claims,
        long Waiting,
        long MinWaiting,
        int Loops,
        TableStats Db,
        double RssMb,
        double HeapMb,
        CpuUsage Cpu)
    {
        public double Rate => Messages / Elapsed.TotalSeconds;

        /// <summary>Share of the loops' time spent in claim, send phase and ack: near 100% the drain was the bottleneck.</summary>
        public double BusyPercent => 100 * Claims.Busy.TotalSeconds / (Loops * Elapsed.TotalSeconds);

        /// <summary>The rate the loops would reach if never idle, at this segment's cost per message.</summary>
        public double? Capacity => Claims.Busy > TimeSpan.Zero ? Claims.Rows * Loops / Claims.Busy.TotalSeconds : null;

        public double? ClaimMicrosecondsPerMessage => Claims.Rows == 0 ? null : Claims.ClaimTime.TotalMicroseconds / Claims.Rows;

        public double? AckMicrosecondsPerMessage => Claims.AckedRows == 0 ? null : Claims.AckTime.TotalMicroseconds / Claims.AckedRows;
    }
}
