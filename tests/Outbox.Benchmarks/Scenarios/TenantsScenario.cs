using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using Outbox.Benchmarks.Infrastructure;
using Outbox.Benchmarks.Options;
using Outbox.Benchmarks.Reporting;

namespace Outbox.Benchmarks.Scenarios;

/// <summary>
/// <c>tenants</c>: a database-per-tenant outbox (<c>UseDatabasePerTenant</c>) over <c>--tenants</c> PostgreSQL
/// databases on one server. <c>--hot</c> of them start with <c>--messages</c> rows waiting each; every other tenant
/// commits one message (an order row and its message, one transaction) every <see cref="QuietInterval"/> while the hot
/// ones drain. Reported: the quiet tenants' commit-to-delivered p50/p99 (<c>p99_ms</c>) and the worst tenant's p99
/// (<c>max_tenant_p99_ms</c>); the hot tenants' drain rate against the same backlog drained, in the same run, by a
/// single outbox with the documented defaults of each (<c>hot_ratio</c>); and the total rate. Same process, null transport: what is
/// measured is the dispatching.
/// </summary>
public static class TenantsScenario
{
    public const int DefaultMessages = 300_000;
    private static readonly TimeSpan QuietInterval = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(10);

    public static async Task RunAsync(BenchContext context, BenchDatabase database, Report report)
    {
        if (database is not PostgresBenchDatabase)
        {
            throw new BenchOptionsException("Scenario tenants runs on PostgreSQL (--provider postgres): its tenant databases are databases of one server.");
        }

        var options = context.Options;
        var ct = context.Cancellation;
        var log = context.Log;
        var backlog = options.Messages ?? DefaultMessages;
        var hot = Math.Min(options.HotTenants, options.Tenants - 1);
        // Documented defaults on both sides unless --concurrency sets both: a tenant's ConcurrencyPerTenant loops against
        // an ordinary outbox's Concurrency loops.
        var loops = options.Concurrency ?? new OutboxDispatcherOptions().Concurrency;
        var tenantLoops = options.Concurrency ?? new OutboxTenantOptions().ConcurrencyPerTenant;
        report.Set("tenants", options.Tenants).Set("hot", hot).Set("backlog_per_hot_tenant", backlog)
            .Set("loops_per_tenant", tenantLoops).Set("loops_single", loops)
            .Set("quiet_interval_ms", QuietInterval.TotalMilliseconds);

        // The same run's ceiling for the hot drain: one ordinary outbox, the same backlog (after an
        // unmeasured drain that opens the pools and jits the code, so that the ceiling does not pay for the start).
        if (options.Warmup)
        {
            _ = await DrainSingleOutboxAsync(database, options, Math.Min(backlog, 5_000), loops, log, context.Timeout, ct);
        }

        var single = await DrainSingleOutboxAsync(database, options, backlog * Math.Max(1, hot), loops, log, context.Timeout, ct);
        report.Set("single_msgs_per_s", single);

        var tenants = new List<(OutboxDatabase Database, BenchDatabase Bench)>();
        try
        {
            await log.WriteLineAsync($"Creating {options.Tenants} tenant databases ...");
            tenants.AddRange(await CreateTenantsAsync(database, options, log, ct));
            foreach (var (_, bench) in tenants.Take(hot))
            {
                for (var filled = 0; filled < backlog; filled += 50_000)
                {
                    await bench.PrefillAsync(Math.Min(50_000, backlog - filled), ct);
                }

                await bench.PrepareForRunAsync(ct);
            }

            await RunTenantsAsync(tenants, hot, backlog, tenantLoops, single, context, report);
        }
        finally
        {
            foreach (var (_, bench) in tenants)
            {
                await bench.DisposeAsync();
            }

            await DropTenantsAsync(database, tenants.Select(t => t.Database), ct);
        }
    }

    private static async Task RunTenantsAsync(
        List<(OutboxDatabase Database, BenchDatabase Bench)> tenants, int hot, int backlog, int loops, double single, BenchContext context, Report report)
    {
        var ct = context.Cancellation;
        var log = context.Log;
        var quiet = tenants.Skip(hot).Select(t => t.Database).ToList();
        var trackers = quiet.ToDictionary(t => t.TenantId, _ => new LatencyTracker(), StringComparer.Ordinal);
        var hotIds = tenants.Take(hot).Select(t => t.Database.TenantId).ToHashSet(StringComparer.Ordinal);
        var transport = new NullTransport();
        long hotDelivered = 0;
        transport.OnDelivered = (message, at) =>
        {
            if (message.TenantId is { } tenant && trackers.TryGetValue(tenant, out var tracker))
            {
                tracker.OnDelivered(message, at);
            }
            else if (message.TenantId is not null && hotIds.Contains(message.TenantId))
            {
                Interlocked.Increment(ref hotDelivered);
            }
        };

        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Logging.AddProvider(new StderrLoggerProvider(log, "tenants"));
        builder.Services.AddDbContext<BenchDbContext>((sp, o) => o.UseNpgsql(sp.GetRequiredService<OutboxTenantContext>().ConnectionString).UseOutbox(sp));
        builder.Services.AddOutbox(o => Configure(o, context.Options))
            .UsePostgreSql<BenchDbContext>()
            .UseDatabasePerTenant(new ListedTenants([.. tenants.Select(t => t.Database)]), t => t.ConcurrencyPerTenant = loops)
            .Services.AddSingleton<IMessageTransport>(transport);
        using var host = builder.Build();

        await log.WriteLineAsync($"Tenants: {hot} with {backlog:N0} waiting each, {quiet.Count} committing one message every {QuietInterval.TotalMilliseconds:0} ms ...");
        var cpu = CpuSample.Take();
        var started = Stopwatch.GetTimestamp();
        await host.StartAsync(ct);

        // The quiet tenants start committing once every tenant's dispatcher has completed a claim: what is measured is
        // the steady state beside a draining tenant, not the start-up of 50 dispatchers (reported apart, startup_s).
        var status = host.Services.GetRequiredService<IOutboxTenants>();
        await Wait.UntilAsync(() => status.Tenants.Count == tenants.Count && status.Tenants.All(t => t.LastClaimAt is not null), Poll, context.Timeout,
            "every tenant's dispatcher completed a claim", ct);
        var startup = Stopwatch.GetElapsedTime(started);
        using var stopQuiet = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var producers = quiet.Select(t => ProduceQuietAsync(host.Services, t, trackers[t.TenantId], stopQuiet.Token)).ToList();
        var hotTotal = (long)backlog * hot;
        await Wait.UntilAsync(() => Interlocked.Read(ref hotDelivered) >= hotTotal, Poll, context.Timeout, "the hot tenants' backlog was delivered", ct);
        var hotElapsed = Stopwatch.GetElapsedTime(started);
        if (hot == 0)
        {
            await Task.Delay(TimeSpan.FromSeconds(10), ct);
        }

        await stopQuiet.CancelAsync();
        var committed = (await Task.WhenAll(producers)).Sum();
        await Wait.UntilAsync(() => trackers.Values.All(t => t.InFlight == 0), Poll, context.Timeout, "the quiet tenants' messages were delivered", ct);
        var elapsed = Stopwatch.GetElapsedTime(started);
        var used = CpuSample.Take().CoresSince(cpu);
        await host.StopAsync(CancellationToken.None);

        var all = new LatencyHistogram();
        foreach (var tracker in trackers.Values)
        {
            all.Merge(tracker.Latency);
        }

        var worst = trackers.MaxBy(t => t.Value.Latency.PercentileMs(99) ?? 0);
        var hotRate = hot == 0 ? 0 : hotTotal / hotElapsed.TotalSeconds;
        var total = (hotTotal + committed) / elapsed.TotalSeconds;
        report.Set("msgs_per_s", total)
            .Set("hot_msgs_per_s", hotRate)
            .Set("hot_seconds", hotElapsed.TotalSeconds)
            .Set("startup_s", startup.TotalSeconds)
            .Set("hot_ratio", single > 0 ? hotRate / single : null)
            .Set("quiet_messages", committed)
            .Set("p50_ms", all.PercentileMs(50))
            .Set("p99_ms", all.PercentileMs(99))
            .Set("max_ms", all.MaxMs)
            .Set("max_tenant_p99_ms", worst.Value.Latency.PercentileMs(99))
            .Set("max_tenant", worst.Key)
            .Set("cpu_self_cores", used.Self)
            .Set("cpu_db_cores", used.Server)
            .Set("goal_met", all.PercentileMs(99) <= 100 && (hot == 0 || hotRate >= 0.5 * single));
        report.AddRow("phase", "messages", "msg/s", "p50 ms", "p99 ms", "max ms");
        report.AddRow("single outbox drain (ceiling)", Report.Number(hotTotal), Report.Number(single), "", "", "");
        report.AddRow($"hot tenant(s) drain", Report.Number(hotTotal), Report.Number(hotRate), "", "", "");
        report.AddRow($"quiet tenants ({quiet.Count})", Report.Number(committed), Report.Number(committed / elapsed.TotalSeconds),
            Report.Number(all.PercentileMs(50)), Report.Number(all.PercentileMs(99)), Report.Number(all.MaxMs));
        report.AddNote(
            $"Goal (issue 14): quiet tenants' p99 <= 100 ms while the hot tenant drains at >= 50% of a single outbox's rate. " +
            $"Measured p99 {Report.Number(all.PercentileMs(99))} ms (worst tenant {worst.Key}: {Report.Number(worst.Value.Latency.PercentileMs(99))} ms), " +
            $"hot drain {Report.Number(hotRate)} msg/s = {Report.Number(single > 0 ? hotRate / single : null)} of the single outbox's {Report.Number(single)} msg/s.");
        if (hotDelivered != hotTotal)
        {
            report.Fail($"the hot tenants delivered {hotDelivered} messages, expected {hotTotal}");
        }
    }

    private static void Configure(OutboxDispatcherOptions o, BenchOptions options)
    {
        if (options.Batch is { } batch)
        {
            o.BatchSize = batch;
        }

        if (options.PollMilliseconds is { } poll)
        {
            o.PollingInterval = TimeSpan.FromMilliseconds(poll);
        }
    }

    /// <summary>One quiet tenant: a business transaction with one message every <see cref="QuietInterval"/>, from a random phase.</summary>
    private static async Task<long> ProduceQuietAsync(IServiceProvider services, OutboxDatabase tenant, LatencyTracker tracker, CancellationToken stop)
    {
        await Task.Yield();
        long committed = 0;
        try
        {
            await Task.Delay(TimeSpan.FromMilliseconds(Random.Shared.Next((int)QuietInterval.TotalMilliseconds)), stop);
            while (!stop.IsCancellationRequested)
            {
                var next = Stopwatch.GetTimestamp() + (long)(QuietInterval.TotalSeconds * Stopwatch.Frequency);
                await using (var scope = services.CreateAsyncScope())
                {
                    scope.ServiceProvider.GetRequiredService<OutboxTenantContext>().Use(tenant);
                    var db = scope.ServiceProvider.GetRequiredService<BenchDbContext>();
                    var orderId = Guid.CreateVersion7();
                    var order = new BenchOrder { Id = orderId, Number = BenchDatabase.OrderNumber(orderId), Total = 10m, CreatedAt = DateTime.UtcNow };
                    db.Orders.Add(order);
                    var messageId = db.Publish(new OrderPlaced(order.Id, order.Number, order.Total));
                    tracker.Register(messageId);
                    await db.SaveChangesAsync(CancellationToken.None); // a started commit finishes, or its message is never delivered
                    tracker.Committed(messageId, Stopwatch.GetTimestamp());
                    committed++;
                }

                var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), next);
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait, stop);
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }

        return committed;
    }

    private static async Task<double> DrainSingleOutboxAsync(BenchDatabase database, BenchOptions options, int messages, int loops, TextWriter log, TimeSpan timeout, CancellationToken ct)
    {
        for (var filled = 0; filled < messages; filled += 50_000)
        {
            await database.PrefillAsync(Math.Min(50_000, messages - filled), ct);
        }

        await database.PrepareForRunAsync(ct);
        var transport = new NullTransport();
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Logging.AddProvider(new StderrLoggerProvider(log, "single"));
        builder.Services.AddDbContext<BenchDbContext>((sp, o) => database.Configure(o.UseOutbox(sp)));
        database.UseStore(builder.Services.AddOutbox(o =>
            {
                Configure(o, options);
                o.Concurrency = loops;
            }))
            .Services.AddSingleton<IMessageTransport>(transport);
        using var host = builder.Build();
        await log.WriteLineAsync($"Single outbox: draining {messages:N0} messages with {loops} loop(s) ...");
        var started = Stopwatch.GetTimestamp();
        await host.StartAsync(ct);
        await Wait.UntilAsync(() => transport.Delivered >= messages, Poll, timeout, "the single outbox's backlog was delivered", ct);
        var rate = messages / Stopwatch.GetElapsedTime(started).TotalSeconds;
        await host.StopAsync(CancellationToken.None);
        return rate;
    }

    private static async Task<List<(OutboxDatabase, BenchDatabase)>> CreateTenantsAsync(BenchDatabase database, BenchOptions options, TextWriter log, CancellationToken ct)
    {
        var main = new NpgsqlConnectionStringBuilder(database.ConnectionString);
        var created = new (OutboxDatabase, BenchDatabase)[options.Tenants];
        await Parallel.ForEachAsync(Enumerable.Range(0, options.Tenants), new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = ct }, async (i, token) =>
        {
            var name = $"{main.Database}_t{i}";
            await using (var connection = await database.OpenConnectionAsync(token))
            {
                await using var command = connection.CreateCommand();
                command.CommandText = $"DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE); CREATE DATABASE \"{name}\"";
                await command.ExecuteNonQueryAsync(token);
            }

            var connectionString = new NpgsqlConnectionStringBuilder(database.ConnectionString) { Database = name, MaxPoolSize = Math.Max(loops(options), new OutboxTenantOptions().ConcurrencyPerTenant) + 2 }.ConnectionString;
            var bench = await BenchDatabase.OpenAsync(options.WithConnection(connectionString), TextWriter.Null, token);
            created[i] = (new OutboxDatabase($"t{i}", connectionString), bench);
        });
        await log.WriteLineAsync($"Created {options.Tenants} tenant databases on the server of {main.Database}.");
        return [.. created];

        static int loops(BenchOptions o) => o.Concurrency ?? new OutboxDispatcherOptions().Concurrency;
    }

    private static async Task DropTenantsAsync(BenchDatabase database, IEnumerable<OutboxDatabase> tenants, CancellationToken ct)
    {
        NpgsqlConnection.ClearAllPools();
        await using var connection = await database.OpenConnectionAsync(ct);
        foreach (var tenant in tenants)
        {
            await using var command = connection.CreateCommand();
            command.CommandText = $"DROP DATABASE IF EXISTS \"{new NpgsqlConnectionStringBuilder(tenant.ConnectionString).Database}\" WITH (FORCE)";
            await command.ExecuteNonQueryAsync(ct);
        }
    }

    private sealed class ListedTenants(IReadOnlyCollection<OutboxDatabase> databases) : IOutboxDatabaseSource
    {
        public ValueTask<IReadOnlyCollection<OutboxDatabase>> GetDatabasesAsync(CancellationToken cancellationToken) => ValueTask.FromResult(databases);
    }
}
