using System.Diagnostics;
using System.Globalization;
using Outbox.Benchmarks.Baselines;
using Outbox.Benchmarks.Infrastructure;
using Outbox.Benchmarks.Reporting;

namespace Outbox.Benchmarks.Scenarios;

/// <summary>
/// <c>drain</c>: N messages are waiting; how fast do D dispatcher hosts empty the outbox? The hosts are started and
/// warmed up first (model built, pools open, code jitted), their claims are paused while the table is filled, then
/// they are woken together and timed until every message was delivered AND the table is empty (the last batch
/// acknowledged). <c>--baseline</c> drains the same N again through the raw-SQL ceiling, <c>--naive</c> a smaller N
/// through a naive outbox. With <c>--repeat K</c> the library and ceiling runs alternate K times and medians are
/// reported, which evens out a noisy machine.
/// </summary>
public static class DrainScenario
{
    public const int DefaultMessages = 100_000;
    private const int NaiveDefaultCap = 20_000;
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(5);

    public static async Task RunAsync(BenchContext context, BenchDatabase database, Report report)
    {
        var options = context.Options;
        var ct = context.Cancellation;
        var log = context.Log;
        var messages = options.Messages ?? DefaultMessages;
        var transport = new NullTransport();

        await using var fleet = DispatcherFleet.Build(database, options, transport, log, wakeup: false);
        var batch = fleet.Options.BatchSize;
        var loops = fleet.Hosts * fleet.Options.Concurrency;
        report.Set("messages", messages)
            .Set("dispatchers", fleet.Hosts)
            .Set("concurrency", fleet.Options.Concurrency)
            .Set("batch", batch)
            .Set("loops", loops)
            .Set("poll_ms", fleet.Options.PollingInterval.TotalMilliseconds)
            .Set("repeat", options.Repeat);

        await fleet.Stats.PauseAsync();
        await fleet.StartAsync(ct);

        if (options.Warmup)
        {
            // Rounds of a small drain until the JIT has settled (tiered compilation promotes a method after some 30
            // calls, and per-batch methods are called once per batch): at least 3 s and 50 batches per loop.
            var round = Math.Min(messages, Math.Max(5_000, 2 * batch * loops));
            var warmupStarted = Stopwatch.GetTimestamp();
            var warmed = 0L;
            await log.WriteLineAsync($"Warm-up: rounds of {round:N0} messages through {loops} loop(s), for at least 3 s ...");
            fleet.Stats.Reset();
            fleet.Stats.BeginPhase();
            do
            {
                await database.PrefillAsync(round, ct);
                fleet.Stats.Paused = false;
                fleet.NotifyAll();
                warmed += round;
                await Wait.UntilAsync(() => transport.Delivered >= warmed, Poll, context.Timeout, "the warm-up messages were delivered", ct);
                await Wait.UntilAsync(() => database.IsOutboxEmptyAsync(ct), Poll, context.Timeout, "the warm-up left the outbox empty", ct);
                await fleet.Stats.PauseAsync();
            }
            while ((Stopwatch.GetElapsedTime(warmupStarted) < TimeSpan.FromSeconds(3) || fleet.Stats.Claims < 50 * loops) && warmed < 50L * round);

            report.Set("warmup_messages", warmed).Set("warmup_s", Stopwatch.GetElapsedTime(warmupStarted).TotalSeconds);
        }

        fleet.Stats.Reset();
        transport.Reset();
        var ours = new List<Phase>();
        var ceilings = new List<Phase>();
        for (var run = 1; run <= options.Repeat; run++)
        {
            var suffix = options.Repeat > 1 ? $" (run {run}/{options.Repeat})" : "";
            ours.Add(await DrainWithLibraryAsync(fleet, transport, database, messages, context, suffix));
            if (options.Baseline)
            {
                ceilings.Add(await DrainWithCeilingAsync(database, messages, loops, batch, context, suffix));
            }
        }

        await fleet.StopAsync();

        Phase? naive = null;
        if (options.Naive)
        {
            var naiveMessages = options.NaiveMessages ?? Math.Min(messages, NaiveDefaultCap);
            await PrefillAsync(database, naiveMessages, context);
            await log.WriteLineAsync($"Naive: one row per transaction, {naiveMessages:N0} messages over {loops} connection(s) ...");
            var cpu = CpuSample.Take();
            var result = await NaiveOutbox.RunAsync(database, loops, log, ct);
            naive = Phase.From(result, cpu);
            await EnsureDrainedAsync(database, result, naiveMessages, "naive", ct);
            report.Set("naive_msgs_per_s", naive.Rate).Set("naive_messages", naiveMessages).Set("naive_seconds", naive.Elapsed.TotalSeconds);
        }

        var oursMedian = Median(ours);
        var ceilingMedian = ceilings.Count > 0 ? Median(ceilings) : null;
        report.Set("seconds", oursMedian.Elapsed.TotalSeconds)
            .Set("msgs_per_s", oursMedian.Rate)
            .Set("cpu_machine_cores", oursMedian.Cpu.Machine)
            .Set("cpu_self_cores", oursMedian.Cpu.Self)
            .Set("cpu_db_cores", oursMedian.Cpu.Server)
            .Set("cpu_others_cores", oursMedian.Cpu.Others)
            .Set("duplicates", transport.Delivered - ((long)messages * options.Repeat));
        if (ceilingMedian is not null)
        {
            report.Set("baseline_msgs_per_s", ceilingMedian.Rate)
                .Set("ratio", oursMedian.Rate / ceilingMedian.Rate)
                .Set("baseline_seconds", ceilingMedian.Elapsed.TotalSeconds)
                .Set("baseline_cpu_machine_cores", ceilingMedian.Cpu.Machine)
                .Set("baseline_cpu_self_cores", ceilingMedian.Cpu.Self)
                .Set("baseline_cpu_db_cores", ceilingMedian.Cpu.Server)
                .Set("baseline_cpu_others_cores", ceilingMedian.Cpu.Others);
        }

        // CPU per message is far less sensitive to a busy machine than throughput, and bounds it: on an otherwise idle
        // box of C cores, a CPU-bound drain cannot beat C / (client + server CPU per message).
        void PerMessage(string prefix, Phase phase)
        {
            report.Set(prefix + "cpu_us_per_msg_self", phase.MicrosecondsPerMessage(phase.Cpu.Self))
                .Set(prefix + "cpu_us_per_msg_db", phase.MicrosecondsPerMessage(phase.Cpu.Server));
        }

        PerMessage("", oursMedian);
        if (ceilingMedian is not null)
        {
            PerMessage("baseline_", ceilingMedian);
        }

        report.AddNote(
            $"CPU per message: library {Report.Number(oursMedian.MicrosecondsPerMessage(oursMedian.Cpu.Self))} us in this process + " +
            $"{Report.Number(oursMedian.MicrosecondsPerMessage(oursMedian.Cpu.Server))} us in the database server" +
            (ceilingMedian is null ? "" :
                $"; ceiling {Report.Number(ceilingMedian.MicrosecondsPerMessage(ceilingMedian.Cpu.Self))} + {Report.Number(ceilingMedian.MicrosecondsPerMessage(ceilingMedian.Cpu.Server))} us") +
            $". CPU-bound limit on {Environment.ProcessorCount} idle cores: library {Report.Number(oursMedian.CpuBoundLimit)} msg/s" +
            (ceilingMedian is null ? "." : $", ceiling {Report.Number(ceilingMedian.CpuBoundLimit)} msg/s (ratio {Report.Number(oursMedian.CpuBoundLimit / ceilingMedian.CpuBoundLimit)})."));
        report.Set("cpu_bound_limit_msgs_per_s", oursMedian.CpuBoundLimit);
        if (ceilingMedian is not null)
        {
            report.Set("baseline_cpu_bound_limit_msgs_per_s", ceilingMedian.CpuBoundLimit);
        }

        if (options.Repeat > 1)
        {
            report.Set("msgs_per_s_runs", ours.Select(p => Rounded(p.Rate)).ToList());
            if (ceilings.Count > 0)
            {
                report.Set("baseline_msgs_per_s_runs", ceilings.Select(p => Rounded(p.Rate)).ToList());
            }
        }

        DescribeLoops(fleet, ours.Sum(p => p.Elapsed.TotalMilliseconds), loops, report);
        report.AddNote(
            $"CPU columns are cores busy on average (of {Environment.ProcessorCount}): the machine, this process, the database server, and others " +
            "(anything else on the machine; above ~0.2 a neighbour disturbed the run).");
        var disturbed = ours.Concat(ceilings).Count(p => p.Cpu.Others > 0.2);
        if (disturbed > 0)
        {
            report.AddNote($"WARNING: {disturbed} measured run(s) shared the machine with other work (others > 0.2 cores): figures are noisy.");
        }

        report.Set("disturbed_runs", disturbed);

        string VsCeiling(double rate) => ceilingMedian is null ? "" : (rate / ceilingMedian.Rate).ToString("0.00", CultureInfo.InvariantCulture);
        report.AddRow("run", "messages", "seconds", "msg/s", "min msg/s", "max msg/s", "vs ceiling", "statements", "cpu machine", "self", "db", "others");
        void Row(string name, Phase median, IReadOnlyList<Phase> all) => report.AddRow(
            name,
            Report.Number(median.Messages),
            Seconds(median.Elapsed),
            Report.Number(median.Rate),
            Report.Number(all.Min(p => p.Rate)),
            Report.Number(all.Max(p => p.Rate)),
            VsCeiling(median.Rate),
            Report.Number(median.Transactions),
            Cores(median.Cpu.Machine),
            Cores(median.Cpu.Self),
            Cores(median.Cpu.Server),
            Cores(median.Cpu.Others));
        Row(options.Repeat > 1 ? $"library (median of {options.Repeat})" : "library (dispatcher)", oursMedian, ours);
        if (ceilingMedian is not null)
        {
            Row(options.Repeat > 1 ? $"raw SQL ceiling (median of {options.Repeat})" : "raw SQL ceiling", ceilingMedian, ceilings);
        }

        if (naive is not null)
        {
            Row("naive (row per tx)", naive, [naive]);
        }
    }

    private static async Task<Phase> DrainWithLibraryAsync(DispatcherFleet fleet, NullTransport transport, BenchDatabase database, int messages, BenchContext context, string suffix)
    {
        var ct = context.Cancellation;
        await PrefillAsync(database, messages, context);
        var claimsBefore = fleet.Stats.Claims + fleet.Stats.Acks;
        var target = transport.Delivered + messages;
        await context.Log.WriteLineAsync($"Library{suffix}: draining {messages:N0} messages with {fleet.Hosts} host(s) x {fleet.Options.Concurrency} loop(s), batch {fleet.Options.BatchSize} ...");

        // Measured: from the wake-up to an empty table.
        var cpu = CpuSample.Take();
        var started = Stopwatch.GetTimestamp();
        var deliveredBefore = transport.Delivered;
        fleet.Stats.BeginPhase();
        fleet.Stats.Paused = false;
        fleet.NotifyAll();
        await using (Progress.Start(context.Log, () => ProgressLine("library", transport.Delivered - deliveredBefore, started)))
        {
            await Wait.UntilAsync(() => transport.Delivered >= target, Poll, context.Timeout, $"{messages:N0} messages were delivered", ct);
            await Wait.UntilAsync(() => database.IsOutboxEmptyAsync(ct), Poll, context.Timeout, "the outbox table was empty", ct);
        }

        var end = CpuSample.Take();
        fleet.Stats.EndPhase();
        await fleet.Stats.PauseAsync();
        return new Phase(messages, Stopwatch.GetElapsedTime(started, end.Timestamp), fleet.Stats.Claims + fleet.Stats.Acks - claimsBefore, end.CoresSince(cpu));
    }

    private static async Task<Phase> DrainWithCeilingAsync(BenchDatabase database, int messages, int loops, int batch, BenchContext context, string suffix)
    {
        await PrefillAsync(database, messages, context);
        await context.Log.WriteLineAsync($"Ceiling{suffix}: raw claim-and-delete of {messages:N0} messages over {loops} connection(s), batch {batch} ...");
        var cpu = CpuSample.Take();
        var result = await RawSqlCeiling.RunAsync(database, loops, batch, context.Log, context.Cancellation);
        var phase = Phase.From(result, cpu);
        await EnsureDrainedAsync(database, result, messages, "ceiling", context.Cancellation);
        return phase;
    }

    private static async Task PrefillAsync(BenchDatabase database, int messages, BenchContext context)
    {
        await context.Log.WriteLineAsync($"Pre-filling {messages:N0} messages (made by Publish, written in bulk) ...");
        await database.PrefillAsync(messages, context.Cancellation);
        await database.PrepareForRunAsync(context.Cancellation);
    }

    private static async Task EnsureDrainedAsync(BenchDatabase database, BaselineResult result, int expected, string name, CancellationToken ct)
    {
        var left = await database.CountOutboxAsync(ct);
        if (left != 0 || result.Rows != expected)
        {
            throw new InvalidOperationException($"The {name} baseline removed {result.Rows:N0} of {expected:N0} rows and left {left:N0}.");
        }
    }

    /// <summary>Where each loop's time went: in the claim statement, in the dispatcher between claim and ack (the send), in the ack.</summary>
    private static void DescribeLoops(DispatcherFleet fleet, double elapsedMs, int loops, Report report)
    {
        var s = fleet.Stats;
        var loopTime = elapsedMs * loops;
        var batches = s.Claims - s.EmptyClaims;
        double? avgBatch = batches == 0 ? null : (double)s.ClaimedRows / batches;
        double? sendPhase = s.Acks == 0 ? null : s.SendPhaseTime.TotalMilliseconds / s.Acks;
        double Share(TimeSpan t) => 100 * t.TotalMilliseconds / loopTime;
        report.Set("claims", s.Claims)
            .Set("empty_claims", s.EmptyClaims)
            .Set("avg_batch", avgBatch)
            .Set("claim_ms_p50", s.ClaimLatency.PercentileMs(50))
            .Set("claim_ms_p99", s.ClaimLatency.PercentileMs(99))
            .Set("claim_ms_mean", s.ClaimLatency.MeanMs)
            .Set("ack_ms_p50", s.AckLatency.PercentileMs(50))
            .Set("ack_ms_p99", s.AckLatency.PercentileMs(99))
            .Set("ack_ms_mean", s.AckLatency.MeanMs)
            .Set("send_phase_ms_mean", sendPhase)
            .Set("loop_share_claim_pct", Share(s.ClaimTime))
            .Set("loop_share_send_pct", Share(s.SendPhaseTime))
            .Set("loop_share_ack_pct", Share(s.AckTime))
            .Set("other_store_calls", s.OtherCalls);
        report.AddNote(
            $"Library loops: {s.Claims:N0} claims ({s.EmptyClaims:N0} empty), avg batch {Report.Number(avgBatch)}; " +
            $"claim p50/p99 {Report.Number(s.ClaimLatency.PercentileMs(50))}/{Report.Number(s.ClaimLatency.PercentileMs(99))} ms, " +
            $"ack p50/p99 {Report.Number(s.AckLatency.PercentileMs(50))}/{Report.Number(s.AckLatency.PercentileMs(99))} ms, " +
            $"send phase (claim returned -> ack started) mean {Report.Number(sendPhase)} ms.");
        report.AddNote(
            $"Loop time ({loops} loop(s) x {elapsedMs / 1000:0.00} s): claim {Share(s.ClaimTime):0}%, send phase {Share(s.SendPhaseTime):0}%, " +
            $"ack {Share(s.AckTime):0}%, rest (idle, waiting to be woken, loop overhead) {100 - Share(s.ClaimTime) - Share(s.SendPhaseTime) - Share(s.AckTime):0}%.");
    }

    private static Phase Median(List<Phase> phases) => phases.OrderBy(p => p.Rate).ElementAt(phases.Count / 2);

    private static double Rounded(double value) => Math.Round(value, 1);

    private static string ProgressLine(string name, long delivered, long started)
    {
        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        return $"  [{name}] {seconds,6:0.0}s  delivered {delivered,10:N0}  ({delivered / seconds,9:N0} msg/s)";
    }

    private static string Cores(double? value) => value?.ToString("0.00", CultureInfo.InvariantCulture) ?? "-";

    private static string Seconds(TimeSpan elapsed) => elapsed.TotalSeconds.ToString("0.000", CultureInfo.InvariantCulture);

    /// <summary>One measured drain: how many messages, how long, how many statements, how much CPU.</summary>
    private sealed record Phase(long Messages, TimeSpan Elapsed, long Transactions, CpuUsage Cpu)
    {
        public double Rate => Messages / Elapsed.TotalSeconds;

        /// <summary>CPU microseconds per message for a number of cores busy during the phase.</summary>
        public double? MicrosecondsPerMessage(double? cores) => cores * Elapsed.TotalSeconds * 1_000_000 / Messages;

        /// <summary>
        /// The rate this phase's CPU cost allows on an otherwise idle machine: cores / (CPU of this process + of the
        /// database server, per message). SQLite runs inside this process; for a remote server only the client counts.
        /// </summary>
        public double? CpuBoundLimit => Cpu.Self + (Cpu.Server ?? 0) is > 0 and var cores
            ? Environment.ProcessorCount / (cores * Elapsed.TotalSeconds / Messages)
            : null;

        public static Phase From(BaselineResult result, CpuSample start) =>
            new(result.Rows, result.Elapsed, result.Transactions, CpuSample.Take().CoresSince(start));
    }
}
