using System.Diagnostics;
using System.Globalization;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Outbox.Benchmarks.Infrastructure;
using Outbox.Benchmarks.Reporting;

namespace Outbox.Benchmarks.Scenarios;

/// <summary>
/// <c>steady</c>: P producer tasks commit business transactions (an order row plus its OrderPlaced message through
/// <c>Publish</c>, one <c>SaveChanges</c>) at a total rate R for S seconds, in the same process as dispatcher host 0.
/// With <c>--wakeup on</c> their DbContext is configured with <c>UseOutbox(sp)</c>, so each commit wakes the
/// dispatcher; with <c>off</c> delivery waits for the polling interval. Measures commit-to-delivery latency of every
/// message (HdrHistogram), after an unmeasured warm-up.
/// </summary>
public static class SteadyScenario
{
    public const double DefaultSeconds = 20;
    private const double WarmupSeconds = 2;

    public static async Task RunAsync(BenchContext context, BenchDatabase database, Report report)
    {
        var options = context.Options;
        var ct = context.Cancellation;
        var log = context.Log;
        var seconds = options.Seconds ?? DefaultSeconds;
        var transport = new NullTransport();
        var tracker = new LatencyTracker();
        transport.OnDelivered = tracker.OnDelivered;

        await using var fleet = DispatcherFleet.Build(database, options, transport, log, wakeup: options.Wakeup);
        report.Set("dispatchers", fleet.Hosts)
            .Set("concurrency", fleet.Options.Concurrency)
            .Set("batch", fleet.Options.BatchSize)
            .Set("poll_ms", fleet.Options.PollingInterval.TotalMilliseconds)
            .Set("producers", options.Producers)
            .Set("rate_target", options.Rate)
            .Set("wakeup", options.Wakeup);
        await fleet.StartAsync(ct);
        var producers = new Producers(fleet.PrimaryServices, database, tracker, options.Producers, options.Rate);

        if (options.Warmup)
        {
            await log.WriteLineAsync($"Warm-up: {WarmupSeconds} s at {options.Rate}/s (not measured) ...");
            await producers.RunAsync(TimeSpan.FromSeconds(WarmupSeconds), measure: false, ct);
            fleet.NotifyAll();
            await Wait.UntilAsync(() => database.IsOutboxEmptyAsync(ct), TimeSpan.FromMilliseconds(20), context.Timeout, "the warm-up messages were delivered", ct);
        }

        fleet.Stats.Reset();
        fleet.Stats.BeginPhase();
        producers.ResetCounters();
        await log.WriteLineAsync($"Measuring: {options.Producers} producer(s) at {options.Rate}/s for {seconds} s, wake-up {(options.Wakeup ? "on" : "off")} ...");
        var cpu = CpuSample.Take();
        var started = Stopwatch.GetTimestamp();
        long committed;
        await using (Progress.Start(log, () =>
        {
            var t = Stopwatch.GetElapsedTime(started).TotalSeconds;
            return $"  [steady] {t,6:0.0}s  committed {producers.Committed,9:N0} ({producers.Committed / t,7:N0}/s)  delivered {tracker.DeliveredCount,9:N0}  " +
                   $"in flight {tracker.InFlight,6:N0}  p99 so far {Report.Number(tracker.Latency.PercentileMs(99))} ms";
        }))
        {
            await producers.RunAsync(TimeSpan.FromSeconds(seconds), measure: true, ct);
            committed = producers.Committed;
            var usage = CpuSample.Take().CoresSince(cpu);
            report.Set("cpu_machine_cores", usage.Machine).Set("cpu_self_cores", usage.Self).Set("cpu_db_cores", usage.Server).Set("cpu_others_cores", usage.Others);

            // Everything committed must arrive: give it a few polling intervals.
            var grace = TimeSpan.FromSeconds(10) + (3 * fleet.Options.PollingInterval);
            try
            {
                await Wait.UntilAsync(() => tracker.InFlight == 0, TimeSpan.FromMilliseconds(5), grace, "every committed message was delivered", ct);
            }
            catch (TimeoutException ex)
            {
                report.Fail($"{tracker.InFlight:N0} of {committed:N0} committed messages were not delivered: {ex.Message}");
            }
        }

        fleet.Stats.EndPhase();
        var produced = Stopwatch.GetElapsedTime(started, producers.FinishedAt);
        await fleet.StopAsync();

        var latency = tracker.Latency;
        report.Set("messages", committed)
            .Set("seconds", produced.TotalSeconds)
            .Set("msgs_per_s", committed / produced.TotalSeconds)
            .Set("p50_ms", latency.PercentileMs(50))
            .Set("p95_ms", latency.PercentileMs(95))
            .Set("p99_ms", latency.PercentileMs(99))
            .Set("max_ms", latency.MaxMs)
            .Set("mean_ms", latency.MeanMs)
            .Set("p999_ms", latency.PercentileMs(99.9))
            .Set("delivered", tracker.DeliveredCount)
            .Set("undelivered", tracker.InFlight)
            .Set("commit_ms_p50", producers.CommitLatency.PercentileMs(50))
            .Set("commit_ms_p99", producers.CommitLatency.PercentileMs(99))
            .Set("producers_late_ms_max", producers.MaxLateness.TotalMilliseconds)
            .Set("claims", fleet.Stats.Claims)
            .Set("empty_claims", fleet.Stats.EmptyClaims)
            .Set("avg_batch", fleet.Stats.Claims == fleet.Stats.EmptyClaims ? null : (double)fleet.Stats.ClaimedRows / (fleet.Stats.Claims - fleet.Stats.EmptyClaims))
            .Set("claim_ms_p50", fleet.Stats.ClaimLatency.PercentileMs(50))
            .Set("claim_ms_p99", fleet.Stats.ClaimLatency.PercentileMs(99))
            .Set("ack_ms_p50", fleet.Stats.AckLatency.PercentileMs(50))
            .Set("ack_ms_p99", fleet.Stats.AckLatency.PercentileMs(99));

        report.AddRow("latency", "count", "p50 ms", "p95 ms", "p99 ms", "p99.9 ms", "max ms");
        report.AddRow("commit -> delivered", Report.Number(latency.Count), Ms(latency.PercentileMs(50)), Ms(latency.PercentileMs(95)), Ms(latency.PercentileMs(99)), Ms(latency.PercentileMs(99.9)), Ms(latency.MaxMs));
        var commit = producers.CommitLatency;
        report.AddRow("SaveChanges (commit)", Report.Number(commit.Count), Ms(commit.PercentileMs(50)), Ms(commit.PercentileMs(95)), Ms(commit.PercentileMs(99)), Ms(commit.PercentileMs(99.9)), Ms(commit.MaxMs));
        report.AddRow("claim statement", Report.Number(fleet.Stats.ClaimLatency.Count), Ms(fleet.Stats.ClaimLatency.PercentileMs(50)), Ms(fleet.Stats.ClaimLatency.PercentileMs(95)), Ms(fleet.Stats.ClaimLatency.PercentileMs(99)), Ms(fleet.Stats.ClaimLatency.PercentileMs(99.9)), Ms(fleet.Stats.ClaimLatency.MaxMs));
        report.AddRow("ack statement", Report.Number(fleet.Stats.AckLatency.Count), Ms(fleet.Stats.AckLatency.PercentileMs(50)), Ms(fleet.Stats.AckLatency.PercentileMs(95)), Ms(fleet.Stats.AckLatency.PercentileMs(99)), Ms(fleet.Stats.AckLatency.PercentileMs(99.9)), Ms(fleet.Stats.AckLatency.MaxMs));
        report.AddNote(
            $"Committed {committed:N0} in {produced.TotalSeconds:0.00} s ({committed / produced.TotalSeconds:N0}/s of {options.Rate}/s target) by {options.Producers} producer(s); " +
            $"wake-up {(options.Wakeup ? "on" : "off")}, polling {fleet.Options.PollingInterval.TotalMilliseconds:0} ms, {fleet.Stats.Claims:N0} claims ({fleet.Stats.EmptyClaims:N0} empty).");
        report.AddNote(
            $"CPU (cores busy, of {Environment.ProcessorCount}): machine {Report.Number(report.Get("cpu_machine_cores") as double?)}, " +
            $"this process (producers + dispatcher) {Report.Number(report.Get("cpu_self_cores") as double?)}, " +
            $"database server {Report.Number(report.Get("cpu_db_cores") as double?)}, others {Report.Number(report.Get("cpu_others_cores") as double?)}" +
            (report.Get("cpu_others_cores") is double others && others > 0.2 ? " (WARNING: a neighbour disturbed the run)." : "."));
    }

    private static string Ms(double? value) => value is null ? "-" : value.Value.ToString("0.00", CultureInfo.InvariantCulture);

    /// <summary>P producer tasks sharing a total rate, each on its own fixed schedule (open loop: a slow commit does not slow the schedule).</summary>
    private sealed class Producers(IServiceProvider services, BenchDatabase database, LatencyTracker tracker, int count, int rate)
    {
        private long _committed;
        private long _maxLateTicks;

        public long Committed => Interlocked.Read(ref _committed);

        public LatencyHistogram CommitLatency { get; } = new();

        public long FinishedAt { get; private set; }

        /// <summary>How far behind its schedule a producer fell at worst (the database or the machine could not keep up).</summary>
        public TimeSpan MaxLateness => Stopwatch.GetElapsedTime(0, Interlocked.Read(ref _maxLateTicks));

        public void ResetCounters()
        {
            Interlocked.Exchange(ref _committed, 0);
            Interlocked.Exchange(ref _maxLateTicks, 0);
            CommitLatency.Reset();
        }

        public async Task RunAsync(TimeSpan duration, bool measure, CancellationToken cancellationToken)
        {
            var start = Stopwatch.GetTimestamp();
            var end = start + (long)(duration.TotalSeconds * Stopwatch.Frequency);
            var interval = Stopwatch.Frequency * (double)count / rate;
            await Task.WhenAll(Enumerable.Range(0, count).Select(i =>
                Task.Run(() => ProduceAsync(start + (i * interval / count), interval, end, measure, cancellationToken), cancellationToken)));
            FinishedAt = Stopwatch.GetTimestamp();
        }

        private async Task ProduceAsync(double next, double interval, long end, bool measure, CancellationToken cancellationToken)
        {
            // Open loop on a fixed schedule; a producer that falls behind catches up, but nothing is produced after the
            // end: an overloaded run commits fewer messages (reported as the achieved rate) instead of running long.
            while (next < end && Stopwatch.GetTimestamp() < end)
            {
                var wait = next - Stopwatch.GetTimestamp();
                if (wait * 1000 / Stopwatch.Frequency >= 1)
                {
                    await Task.Delay(TimeSpan.FromSeconds(wait / Stopwatch.Frequency), cancellationToken);
                    continue;
                }

                var late = (long)-wait;
                if (late > Interlocked.Read(ref _maxLateTicks))
                {
                    Interlocked.Exchange(ref _maxLateTicks, late);
                }

                await CommitOneAsync(measure, cancellationToken);
                next += interval;
            }
        }

        private async Task CommitOneAsync(bool measure, CancellationToken cancellationToken)
        {
            await using var scope = services.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<BenchDbContext>();
            var orderId = Guid.CreateVersion7();
            var order = new BenchOrder { Id = orderId, Number = BenchDatabase.OrderNumber(orderId), Total = 42.50m, CreatedAt = DateTime.UtcNow };
            db.Orders.Add(order);
            var messageId = db.Publish(new OrderPlaced(order.Id, order.Number, order.Total), new PublishOptions { PartitionKey = database.NextPartitionKey(orderId) });
            if (measure)
            {
                tracker.Register(messageId);
            }

            var started = Stopwatch.GetTimestamp();
            try
            {
                await db.SaveChangesAsync(cancellationToken);
            }
            catch
            {
                tracker.Abandon(messageId);
                throw;
            }

            var committed = Stopwatch.GetTimestamp();
            if (measure)
            {
                tracker.Committed(messageId, committed);
                CommitLatency.RecordTicks(committed - started);
                Interlocked.Increment(ref _committed);
            }
        }
    }
}
