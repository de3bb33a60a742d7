using System.Diagnostics;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Outbox.Benchmarks.Infrastructure;
using Outbox.Benchmarks.Options;
using Outbox.Benchmarks.Reporting;
using Outbox.EntityFrameworkCore.PostgreSql;
using Outbox.TestInfrastructure;

namespace Outbox.Benchmarks.Scenarios;

/// <summary>
/// <c>failover</c> (PostgreSQL): a primary and a streaming standby of the scenario's own (throwaway clusters), one
/// dispatcher host whose store connects with a multi-host connection string naming both
/// (<c>Target Session Attributes=primary;Host Recheck Seconds=N</c>, N from <c>--host-recheck-seconds</c>, default 1).
/// Each of <c>--repeat</c> failovers (default 3): a backlog of messages that become due a moment later is committed and
/// replayed by the standby, the primary is killed (<c>pg_ctl stop -m immediate</c>), the standby promoted
/// (<c>pg_ctl promote -w</c>, then until <c>pg_is_in_recovery()</c> is false), and what is measured is the time from
/// then to the next message the dispatcher delivers. A new standby is then made of the new primary on the old one's
/// port, so the connection string stays the same throughout.
/// </summary>
public static class FailoverScenario
{
    private const int DefaultFailovers = 3;
    private const int Backlog = 50;
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(5);

    // Longer than a kill and a promote take, so that the backlog is due by the time the new primary takes writes.
    private static readonly TimeSpan DueAfter = TimeSpan.FromSeconds(1);

    public static async Task RunAsync(BenchContext context, BenchDatabase database, Report report)
    {
        if (database.Provider != BenchProvider.Postgres)
        {
            throw new BenchOptionsException("Scenario 'failover' needs PostgreSQL (--provider postgres).");
        }

        var options = context.Options;
        var ct = context.Cancellation;
        var log = context.Log;
        var failovers = options.Repeat > 1 ? options.Repeat : DefaultFailovers;
        var connectionOptions = $"Target Session Attributes=primary;Host Recheck Seconds={options.HostRecheckSeconds}";

        await log.WriteLineAsync("Starting a throwaway primary and a streaming standby of it ...");
        var primary = await LocalPostgresCluster.StartAsync(cancellationToken: ct);
        LocalPostgresCluster? standby = null;
        try
        {
            standby = await primary.StartStandbyAsync(cancellationToken: ct);
            var ports = (primary.Port, standby.Port);
            var hosts = new NpgsqlConnectionStringBuilder($"Host=127.0.0.1:{ports.Item1},127.0.0.1:{ports.Item2};Username=postgres;Database=postgres;{connectionOptions}");
            var multiHost = hosts.ConnectionString;
            report.Set("failovers", failovers)
                .Set("failover_connection_options", connectionOptions)
                .Set("host_recheck_seconds", hosts.HostRecheckSeconds)
                .Set("target_session_attributes", hosts.TargetSessionAttributes);

            await using (var schema = CreateContext(primary.ConnectionString))
            {
                await schema.Database.EnsureCreatedAsync(ct);
            }

            var transport = new NullTransport();
            var lastDelivery = 0L;
            transport.OnDelivered = (_, at) => Volatile.Write(ref lastDelivery, at);
            await using var fleet = DispatcherFleet.Build(database, options, outbox =>
            {
                outbox.Services.AddSingleton<IMessageTransport>(transport);
                outbox.Services.Configure<OutboxPostgreSqlOptions>(o =>
                {
                    o.ConnectionString = multiHost;
                    o.Notifications = false;
                });
            }, log, wakeup: false);
            await fleet.StartAsync(ct);

            // Warm-up: the dispatcher's pool is open and its code jitted.
            await PublishAsync(Unpooled(primary), Backlog, deliverAfter: null, ct);
            await Wait.UntilAsync(() => transport.Delivered >= Backlog, Poll, context.Timeout, "the warm-up was delivered", ct);

            var resume = new List<double>();
            for (var round = 1; round <= failovers; round++)
            {
                var before = transport.Delivered;
                await PublishAsync(Unpooled(primary), Backlog, DateTimeOffset.UtcNow + DueAfter, ct);
                await primary.WaitUntilReplayedByAsync(standby, ct);

                await log.WriteLineAsync($"Failover {round}/{failovers}: killing the primary on port {primary.Port}, promoting the standby on port {standby.Port} ...");
                var oldPort = primary.Port;
                await primary.StopAsync(immediate: true, ct);
                await standby.PromoteAsync(ct);
                var promoted = Stopwatch.GetTimestamp();
                await Wait.UntilAsync(() => Volatile.Read(ref lastDelivery) > promoted, Poll, context.Timeout, $"a message was delivered after failover {round}", ct);
                var seconds = Stopwatch.GetElapsedTime(promoted, Volatile.Read(ref lastDelivery)).TotalSeconds;
                resume.Add(seconds);
                await log.WriteLineAsync($"  promote complete → next delivery: {seconds:0.000} s");
                await Wait.UntilAsync(() => transport.Delivered >= before + Backlog, Poll, context.Timeout, $"the backlog of failover {round} was delivered", ct);

                // The old primary's folder goes; a standby of the new primary takes its port.
                await primary.DisposeAsync();
                primary = standby;
                standby = null;
                standby = await primary.StartStandbyAsync(new LocalPostgresClusterOptions { Port = oldPort }, ct);
            }

            await fleet.StopAsync();
            var sorted = resume.Order().ToArray();
            var p99 = sorted[Math.Clamp((int)Math.Ceiling(0.99 * sorted.Length) - 1, 0, sorted.Length - 1)];
            var p50 = sorted[Math.Clamp((int)Math.Ceiling(0.5 * sorted.Length) - 1, 0, sorted.Length - 1)];
            report.Set("resume_s", string.Join(' ', resume.Select(s => s.ToString("0.000", System.Globalization.CultureInfo.InvariantCulture))))
                .Set("resume_p50_s", Math.Round(p50, 3))
                .Set("resume_p99_s", Math.Round(p99, 3))
                .Set("resume_max_s", Math.Round(sorted[^1], 3))
                .Set("delivered", transport.Delivered);
            report.AddNote($"{failovers} failover(s) ({connectionOptions}): promote complete → next delivery p50 {p50:0.000} s, p99 {p99:0.000} s, max {sorted[^1]:0.000} s.");
        }
        finally
        {
            if (standby is not null)
            {
                await standby.DisposeAsync();
            }

            await primary.DisposeAsync();
        }
    }

    // The harness's own connections are not pooled: a server on a port that a killed one had must not be reached
    // through that one's broken connections.
    private static string Unpooled(LocalPostgresCluster cluster) =>
        new NpgsqlConnectionStringBuilder(cluster.ConnectionString) { Pooling = false }.ConnectionString;

    private static BenchDbContext CreateContext(string connectionString) =>
        new(new DbContextOptionsBuilder<BenchDbContext>().UseNpgsql(connectionString).Options);

    private static async Task PublishAsync(string connectionString, int count, DateTimeOffset? deliverAfter, CancellationToken cancellationToken)
    {
        await using var db = CreateContext(connectionString);
        for (var i = 0; i < count; i++)
        {
            db.Publish(new OrderPlaced(Guid.NewGuid(), $"FAILOVER-{i}", i), new PublishOptions { DeliverAfter = deliverAfter });
        }

        await db.SaveChangesAsync(cancellationToken);
    }
}
