using System.Diagnostics;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Outbox.Benchmarks.Infrastructure;
using Outbox.Benchmarks.Options;
using Outbox.Benchmarks.Reporting;
using Outbox.EntityFrameworkCore.PostgreSql;
using Outbox.TestInfrastructure;

namespace Outbox.Benchmarks.Scenarios;

/// <summary>
/// <c>pooler</c> (PostgreSQL): a throwaway PgBouncer (transaction mode, defaults) in front of the benchmark's server.
/// <list type="number">
/// <item>Drain: N messages (default 20,000) drained by one dispatcher host with the library's defaults, its store
/// connecting directly, then through PgBouncer (alternating <c>--repeat</c> times, medians reported).</item>
/// <item>Cross-process wake-up: a publisher host (dispatcher off, everything through PgBouncer, its NOTIFY too)
/// commits one message at a time; a dispatcher host polling only every 5 s (everything through PgBouncer) delivers
/// it. Commit-to-delivery latency with the dispatcher's listener on its own direct connection
/// (<see cref="OutboxPostgreSqlOptions.ListenerConnectionString"/>) and without it (the listener behind the pooler,
/// where notifications are lost and adaptive polling is all that is left).</item>
/// </list>
/// </summary>
public static class PoolerScenario
{
    private const int DefaultMessages = 20_000;
    private const int WakeMessages = 15;
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(5);
    private static readonly TimeSpan WakePolling = TimeSpan.FromSeconds(5);

    public static async Task RunAsync(BenchContext context, BenchDatabase database, Report report)
    {
        if (database.Provider != BenchProvider.Postgres)
        {
            throw new BenchOptionsException("Scenario 'pooler' needs PostgreSQL (--provider postgres).");
        }

        var options = context.Options;
        var ct = context.Cancellation;
        var log = context.Log;
        var messages = options.Messages ?? DefaultMessages;
        await using var bouncer = await LocalPgBouncer.StartAsync(database.ConnectionString, cancellationToken: ct);
        var pooled = bouncer.Through(database.ConnectionString);
        report.Set("messages", messages).Set("repeat", options.Repeat).Set("pgbouncer_port", bouncer.Port);

        var direct = new List<double>();
        var through = new List<double>();
        for (var run = 1; run <= options.Repeat; run++)
        {
            direct.Add(await DrainAsync(context, database, null, messages, $"direct (run {run})"));
            through.Add(await DrainAsync(context, database, pooled, messages, $"through PgBouncer (run {run})"));
        }

        var directRate = Median(direct);
        var pooledRate = Median(through);
        report.Set("direct_msgs_per_s", directRate)
            .Set("pgbouncer_msgs_per_s", pooledRate)
            .Set("msgs_per_s", pooledRate)
            .Set("ratio", pooledRate / directRate);

        var withListener = await WakeUpAsync(context, database, pooled, listener: database.ConnectionString, "listener direct");
        var withoutListener = await WakeUpAsync(context, database, pooled, listener: null, "listener behind PgBouncer");
        report.Set("wake_polling_s", WakePolling.TotalSeconds)
            .Set("wake_direct_listener_p50_ms", withListener.P50).Set("wake_direct_listener_p99_ms", withListener.P99)
            .Set("wake_pooled_listener_p50_ms", withoutListener.P50).Set("wake_pooled_listener_p99_ms", withoutListener.P99)
            .Set("p50_ms", withListener.P50).Set("p99_ms", withListener.P99);
        report.AddNote(
            $"Drain: direct {directRate:0} msg/s, through PgBouncer {pooledRate:0} msg/s (ratio {pooledRate / directRate:0.00}). " +
            $"Cross-process wake-up behind PgBouncer (polling {WakePolling.TotalSeconds:0} s): listener on a direct connection p50/p99 " +
            $"{withListener.P50:0.0}/{withListener.P99:0.0} ms, listener through the pooler {withoutListener.P50:0.0}/{withoutListener.P99:0.0} ms.");
    }

    private static async Task<double> DrainAsync(BenchContext context, BenchDatabase database, string? storeConnection, int messages, string label)
    {
        var ct = context.Cancellation;
        var transport = new NullTransport();
        await using var fleet = DispatcherFleet.Build(database, context.Options, outbox =>
        {
            outbox.Services.AddSingleton<IMessageTransport>(transport);
            if (storeConnection is not null)
            {
                outbox.Services.Configure<OutboxPostgreSqlOptions>(o => o.ConnectionString = storeConnection);
            }
        }, context.Log, wakeup: false);
        await fleet.Stats.PauseAsync();
        await fleet.StartAsync(ct);

        // Warm-up: pools open, code jitted.
        await database.PrefillAsync(2_000, ct);
        fleet.Stats.Paused = false;
        fleet.NotifyAll();
        await Wait.UntilAsync(() => transport.Delivered >= 2_000, Poll, context.Timeout, $"the warm-up was delivered ({label})", ct);
        await Wait.UntilAsync(() => database.IsOutboxEmptyAsync(ct), Poll, context.Timeout, $"the warm-up left the outbox empty ({label})", ct);
        await fleet.Stats.PauseAsync();
        transport.Reset();

        await database.PrefillAsync(messages, ct);
        await database.PrepareForRunAsync(ct);
        await context.Log.WriteLineAsync($"Draining {messages:N0} messages, store {label} ...");
        var started = Stopwatch.GetTimestamp();
        fleet.Stats.Paused = false;
        fleet.NotifyAll();
        await Wait.UntilAsync(() => transport.Delivered >= messages, Poll, context.Timeout, $"the messages were delivered ({label})", ct);
        await Wait.UntilAsync(() => database.IsOutboxEmptyAsync(ct), Poll, context.Timeout, $"the outbox was emptied ({label})", ct);
        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        await fleet.StopAsync();
        var rate = messages / seconds;
        await context.Log.WriteLineAsync($"  {label}: {rate:0} msg/s");
        return rate;
    }

    private static async Task<(double P50, double P99)> WakeUpAsync(BenchContext context, BenchDatabase database, string pooled, string? listener, string label)
    {
        var ct = context.Cancellation;
        var transport = new NullTransport();
        var delivered = 0L;
        var deliveredAt = 0L;
        transport.OnDelivered = (_, at) =>
        {
            Volatile.Write(ref deliveredAt, at);
            Interlocked.Increment(ref delivered);
        };
        await using var fleet = DispatcherFleet.Build(database, context.Options, outbox =>
        {
            outbox.Services.AddSingleton<IMessageTransport>(transport);
            outbox.Services.Configure<OutboxDispatcherOptions>(o => o.PollingInterval = WakePolling);
            outbox.Services.Configure<OutboxPostgreSqlOptions>(o =>
            {
                o.ConnectionString = pooled;
                o.ListenerConnectionString = listener;
                o.Notifications = true;
            });
        }, context.Log, wakeup: false);
        await fleet.StartAsync(ct);
        using var publisher = BuildPublisher(pooled, context.Log);
        await publisher.StartAsync(ct);

        // The listener's probe takes up to 10 s to decide; let it, and let the first deliveries warm everything.
        await context.Log.WriteLineAsync($"Wake-up, {label}: waiting for the listener's probe, then {WakeMessages} messages one at a time ...");
        await Task.Delay(TimeSpan.FromSeconds(12), ct);
        var random = new Random(42);
        var latencies = new List<double>();
        for (var i = -2; i < WakeMessages; i++)
        {
            var before = Interlocked.Read(ref delivered);
            long committed;
            using (var scope = publisher.Services.CreateScope())
            {
                var db = scope.ServiceProvider.GetRequiredService<BenchDbContext>();
                db.Publish(new OrderPlaced(Guid.NewGuid(), $"WAKE-{i}", i));
                await db.SaveChangesAsync(ct);
                committed = Stopwatch.GetTimestamp();
            }

            await Wait.UntilAsync(() => Interlocked.Read(ref delivered) > before, TimeSpan.FromMilliseconds(1), context.Timeout, $"wake-up message {i} was delivered ({label})", ct);
            if (i >= 0)
            {
                latencies.Add(Stopwatch.GetElapsedTime(committed, Volatile.Read(ref deliveredAt)).TotalMilliseconds);
            }

            // Random pauses, so that a delivery found by polling is not timed by the polling rhythm alone.
            await Task.Delay(TimeSpan.FromMilliseconds(random.Next(500, 2500)), ct);
        }

        await publisher.StopAsync(ct);
        await fleet.StopAsync();
        var sorted = latencies.Order().ToArray();
        double At(double q) => sorted[Math.Clamp((int)Math.Ceiling(q * sorted.Length) - 1, 0, sorted.Length - 1)];
        await context.Log.WriteLineAsync($"  {label}: p50 {At(0.5):0.0} ms, p99 {At(0.99):0.0} ms, max {sorted[^1]:0.0} ms");
        return (At(0.5), At(0.99));
    }

    /// <summary>The publishing process: no dispatcher, its connections and its NOTIFY through the pooler.</summary>
    private static IHost BuildPublisher(string pooled, TextWriter log)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Logging.AddProvider(new StderrLoggerProvider(log, "publisher"));
        builder.Services.AddDbContext<BenchDbContext>((sp, options) =>
        {
            options.UseNpgsql(pooled);
            options.UseOutbox(sp);
        });
        builder.Services.AddOutbox(o => o.Enabled = false).UsePostgreSql<BenchDbContext>(o => o.ConnectionString = pooled);
        return builder.Build();
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
