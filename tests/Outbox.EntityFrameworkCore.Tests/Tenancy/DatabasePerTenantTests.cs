using System.Collections.Concurrent;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using Outbox.EntityFrameworkCore.Tests.Inbox;
using Outbox.EntityFrameworkCore.Tests.Infrastructure;
using Outbox.TestInfrastructure;

namespace Outbox.EntityFrameworkCore.Tests.Tenancy;

/// <summary>
/// A database per tenant (issue 14, part 3) against real PostgreSQL databases and SQLite files: tenants listed at run
/// time, added and removed while running, one tenant's database stopped midway; the consumer's inbox written in the
/// message's tenant database.
/// </summary>
public sealed class DatabasePerTenantTests
{
    private const int PerPhase = 20;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task UseDatabasePerTenant_FiftyTenantsAddedRemovedAndOneStopped_EveryLiveTenantsMessagesDeliveredExactlyOnce()
    {
        var server = await AcquireServerAsync();
        var databases = await CreateTenantsAsync(server, 50);
        var source = new TenantSource(databases.Take(40));
        using var host = BuildHost(source);
        await host.StartAsync(Ct);
        var tenants = host.Services.GetRequiredService<IOutboxTenants>();
        Assert.Equal(40, tenants.Tenants.Count);
        var transport = host.Services.GetRequiredService<TenantTransport>();
        var published = new ConcurrentDictionary<Guid, string>();

        // Phase 1: tenants 0-39 publish. Then 40-49 join, 35-39 leave, and tenant 7's database stops taking connections.
        await PublishAsync(host, databases.Take(40), published);
        source.Set(databases.Take(35).Concat(databases.Skip(40)));
        await tenants.RefreshAsync(Ct);
        Assert.Equal(45, tenants.Tenants.Count);
        Assert.DoesNotContain(tenants.Tenants, t => t.TenantId is "t35" or "t39");
        var stopped = databases[7];
        await SetConnectionsAllowedAsync(server, stopped, allowed: false);

        // Phase 2: every live tenant publishes again, the new ones included.
        var live = databases.Take(35).Concat(databases.Skip(40)).Where(d => d != stopped).ToList();
        await PublishAsync(host, live, published);

        var liveIds = published.Where(p => live.Any(d => d.TenantId == p.Value)).Select(p => p.Key).ToHashSet();
        await WaitUntilAsync(() => transport.DeliveredIds().IsSupersetOf(liveIds), () => $"{transport.DeliveredIds().Intersect(liveIds).Count()} of {liveIds.Count} live tenants' messages delivered");

        var sent = transport.Sent.ToList();
        foreach (var group in sent.Where(m => liveIds.Contains(m.MessageId)).GroupBy(m => m.MessageId))
        {
            Assert.Single(group); // exactly once
            Assert.Equal(published[group.Key], group.Single().TenantId); // claimed from its own tenant's database, and says so
        }

        // Tenant 7 is reported unreachable while the others went on; once its database is back, nothing of it is lost.
        await WaitUntilAsync(
            () => tenants.Tenants.Single(t => t.TenantId == stopped.TenantId) is { Reachable: false, LastFailure: not null },
            () => "tenant t7 is not reported unreachable");
        Assert.All(tenants.Tenants.Where(t => t.TenantId != stopped.TenantId), t => Assert.True(t.Reachable, $"{t.TenantId}: {t.LastFailure}"));
        await SetConnectionsAllowedAsync(server, stopped, allowed: true);
        var stoppedIds = published.Where(p => p.Value == stopped.TenantId).Select(p => p.Key).ToHashSet();
        Assert.Equal(PerPhase, stoppedIds.Count);
        await WaitUntilAsync(() => transport.DeliveredIds().IsSupersetOf(stoppedIds), () => $"{transport.DeliveredIds().Intersect(stoppedIds).Count()} of tenant t7's {PerPhase} messages delivered");

        // The removed tenants: each message delivered at most once, and what was not delivered is still in its database.
        foreach (var removed in databases.Skip(35).Take(5))
        {
            var ids = published.Where(p => p.Value == removed.TenantId).Select(p => p.Key).ToHashSet();
            var delivered = sent.Where(m => ids.Contains(m.MessageId)).GroupBy(m => m.MessageId).ToList();
            Assert.All(delivered, g => Assert.Single(g));
            Assert.Equal(ids.Count - delivered.Count, await CountRowsAsync(removed));
        }

        await host.StopAsync(Ct);
    }

    [Fact]
    public async Task UseDatabasePerTenant_ATenantWithABacklog_GetsASecondLoopWhileItsClaimsComeBackFullAndAQuietTenantKeepsOne()
    {
        var server = await AcquireServerAsync();
        var databases = await CreateTenantsAsync(server, 2);
        var (hot, quiet) = (databases[0], databases[1]);
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddDbContext<TestDbContext>((sp, o) => o.UseNpgsql(sp.GetRequiredService<OutboxTenantContext>().ConnectionString).UseOutbox(sp));
        builder.Services.AddOutbox(Fast).UsePostgreSql<TestDbContext>().UseDatabasePerTenant(new TenantSource(databases)).UseTransport<HeldTransport>();
        using var host = builder.Build();
        var tenants = host.Services.GetRequiredService<IOutboxTenants>();
        var transport = host.Services.GetRequiredService<HeldTransport>();
        transport.Hold(hot.TenantId);

        // Before the dispatcher starts, the hot tenant has four full batches (BatchSize 25) waiting, the quiet one 20
        // messages: one batch, not full.
        var published = new ConcurrentDictionary<Guid, string>();
        await PublishAsync(host, Enumerable.Repeat(hot, 5), published);
        await PublishAsync(host, [quiet], published);
        await host.StartAsync(Ct);

        // The hot tenant's first claim came back full, so a second loop joined: two batches are held at once, and no third
        // (ConcurrencyPerTenant 2 by default). The quiet tenant's messages went meanwhile, on its one loop.
        await WaitUntilAsync(() => transport.HeldCount >= 50, () => $"{transport.HeldCount} of the hot tenant's sends held");
        Assert.Equal(2, tenants.Tenants.Single(t => t.TenantId == hot.TenantId).Loops);
        var quietIds = published.Where(p => p.Value == quiet.TenantId).Select(p => p.Key).ToHashSet();
        await WaitUntilAsync(() => transport.DeliveredIds().IsSupersetOf(quietIds), () => $"{transport.DeliveredIds().Intersect(quietIds).Count()} of the quiet tenant's {quietIds.Count} delivered");
        Assert.Equal(1, tenants.Tenants.Single(t => t.TenantId == quiet.TenantId).Loops);
        Assert.Equal(50, transport.HeldCount);
        Assert.Equal(new OutboxTenantOptions().ConcurrencyPerTenant * 25, transport.MaxHeld);

        // Released, the backlog drains exactly once, and the added loop stops at its first empty claim.
        transport.Release();
        var hotIds = published.Where(p => p.Value == hot.TenantId).Select(p => p.Key).ToHashSet();
        await WaitUntilAsync(() => transport.DeliveredIds().IsSupersetOf(hotIds), () => $"{transport.DeliveredIds().Intersect(hotIds).Count()} of the hot tenant's {hotIds.Count} delivered");
        await WaitUntilAsync(() => tenants.Tenants.Single(t => t.TenantId == hot.TenantId).Loops == 1, () => $"hot tenant loops: {tenants.Tenants.Single(t => t.TenantId == hot.TenantId).Loops}");
        Assert.Equal(published.Count, transport.Sent.Count);
        Assert.Equal(published.Count, transport.DeliveredIds().Count);
        await host.StopAsync(Ct);
    }

    [Fact]
    public async Task UseDatabasePerTenant_SqliteTenantFiles_EachTenantsMessagesClaimedFromItsFileAndMarkedWithIt()
    {
        var files = Enumerable.Range(0, 3).Select(i => new OutboxDatabase($"s{i}", $"Data Source={Path.Combine(Path.GetTempPath(), $"outbox-tenant-{Guid.NewGuid():N}.db")};Default Timeout=30")).ToList();
        try
        {
            foreach (var file in files)
            {
                await using var context = new TestDbContext(new DbContextOptionsBuilder<TestDbContext>().UseSqlite(file.ConnectionString).UseOutbox().Options);
                await context.Database.EnsureCreatedAsync(Ct);
            }

            var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
            builder.Logging.SetMinimumLevel(LogLevel.Warning);
            builder.Services.AddDbContext<TestDbContext>((sp, o) => o.UseSqlite(sp.GetRequiredService<OutboxTenantContext>().ConnectionString).UseOutbox(sp));
            builder.Services.AddOutbox(Fast).UseSqlite<TestDbContext>().UseDatabasePerTenant(new TenantSource(files)).UseTransport<TenantTransport>();
            using var host = builder.Build();
            await host.StartAsync(Ct);
            var published = new ConcurrentDictionary<Guid, string>();
            await PublishAsync(host, files, published);

            await host.Services.GetRequiredService<Outbox.Testing.OutboxDeliveryAwaiter>().WaitForDeliveryAsync(TimeSpan.FromMinutes(3), Ct);
            await host.StopAsync(Ct);

            var sent = host.Services.GetRequiredService<TenantTransport>().Sent.ToList();
            Assert.Equal(published.Count, sent.Count);
            Assert.All(sent, m => Assert.Equal(published[m.MessageId], m.TenantId));
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            foreach (var file in files)
            {
                var path = new Microsoft.Data.Sqlite.SqliteConnectionStringBuilder(file.ConnectionString).DataSource;
                foreach (var suffix in new[] { "", "-wal", "-shm" })
                {
                    File.Delete(path + suffix);
                }
            }
        }
    }

    [Fact]
    public async Task UseDatabasePerTenant_OnAConsumer_WritesEachMessagesInboxRowAndHandlerRowsInItsTenantsDatabase()
    {
        var server = await AcquireServerAsync();
        var tenants = new List<OutboxDatabase>();
        foreach (var id in new[] { "acme", "globex" })
        {
            var database = new OutboxDatabase(id, await server.CreateDatabaseAsync("outbox_tenant", Ct));
            await using var context = new InboxTestDbContext(new DbContextOptionsBuilder<InboxTestDbContext>().UseNpgsql(database.ConnectionString).Options);
            await context.Database.EnsureCreatedAsync(Ct);
            tenants.Add(database);
        }

        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<Microsoft.Extensions.Configuration.IConfiguration>(new Microsoft.Extensions.Configuration.ConfigurationBuilder().Build());
        services.AddSingleton<HandlerBehaviour>();
        services.AddDbContext<InboxTestDbContext>((sp, o) => o.UseNpgsql(sp.GetRequiredService<OutboxTenantContext>().ConnectionString));
        services.AddOutboxConsumer<InboxTestDbContext>("ledger", c => c.AddHandler<AccountCredited, CreditHandler>().UseDatabasePerTenant(new TenantSource(tenants)));
        await using var provider = services.BuildServiceProvider();
        var processor = provider.GetRequiredKeyedService<IInboxProcessor>("ledger");

        var acme = Credit("acme", "a-1");
        var globex = Credit("globex", "g-1");
        Assert.Equal(InboxOutcomeKind.Processed, (await processor.ProcessAsync("ledger", acme, Ct)).Kind);
        Assert.Equal(InboxOutcomeKind.Processed, (await processor.ProcessAsync("ledger", globex, Ct)).Kind);
        Assert.Equal(InboxOutcomeKind.Duplicate, (await processor.ProcessAsync("ledger", acme, Ct)).Kind); // the redelivery, seen in acme's inbox

        // A batch mixing tenants is not one transaction: it falls back to one by one, each in its tenant's database.
        var batch = new[] { Credit("acme", "a-2"), Credit("globex", "g-2") };
        Assert.Null(await processor.ProcessBatchAsync("ledger", batch, Ct));
        foreach (var message in batch)
        {
            Assert.Equal(InboxOutcomeKind.Processed, (await processor.ProcessAsync("ledger", message, Ct)).Kind);
        }

        foreach (var (tenant, accounts) in new[] { (tenants[0], new[] { "a-1", "a-2" }), (tenants[1], new[] { "g-1", "g-2" }) })
        {
            await using var context = new InboxTestDbContext(new DbContextOptionsBuilder<InboxTestDbContext>().UseNpgsql(tenant.ConnectionString).Options);
            Assert.Equal(accounts, (await context.Ledger.Select(l => l.Account).ToListAsync(Ct)).Order().ToArray());
            Assert.Equal(2, await context.Set<InboxRecord>().CountAsync(Ct));
        }

        // A tenant nobody lists: not processed, not dead-lettered anywhere, reported as a database that cannot be reached.
        var unknown = await processor.ProcessAsync("ledger", Credit("initech", "i-1"), Ct);
        Assert.Equal(InboxOutcomeKind.Unavailable, unknown.Kind);
        Assert.Equal(4, provider.GetRequiredService<HandlerBehaviour>().Invocations);
    }

    private static IncomingMessage Credit(string tenant, string account) => new()
    {
        MessageId = Guid.CreateVersion7().ToString(),
        MessageType = typeof(AccountCredited).FullName,
        ContentType = "application/json",
        Payload = SystemTextJsonMessageSerializer.Default.Serialize(new AccountCredited(account, 1), typeof(AccountCredited)),
        Headers = new Dictionary<string, string> { [OutboxHeaders.Tenant] = tenant },
    };

    private static async Task<PostgresServer> AcquireServerAsync()
    {
        try
        {
            return await PostgresServer.AcquireAsync(Ct);
        }
        catch (ServerUnavailableException ex) when (!ServerRequirement.Required)
        {
            Assert.Skip($"No PostgreSQL server available (set OUTBOX_TEST_REQUIRE_SERVERS=1 to make this a failure): {ex.Message}");
            throw;
        }
    }

    private static async Task<List<OutboxDatabase>> CreateTenantsAsync(PostgresServer server, int count)
    {
        var databases = new OutboxDatabase[count];
        await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = Ct }, async (i, ct) =>
        {
            var connectionString = new NpgsqlConnectionStringBuilder(await server.CreateDatabaseAsync("outbox_tenant", ct)) { MaxPoolSize = 4 }.ConnectionString;
            await using var context = new TestDbContext(new DbContextOptionsBuilder<TestDbContext>().UseNpgsql(connectionString).UseOutbox().Options);
            await context.Database.EnsureCreatedAsync(ct);
            databases[i] = new OutboxDatabase($"t{i}", connectionString);
        });
        return [.. databases];
    }

    private static IHost BuildHost(TenantSource source)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddDbContext<TestDbContext>((sp, o) => o.UseNpgsql(sp.GetRequiredService<OutboxTenantContext>().ConnectionString).UseOutbox(sp));
        builder.Services.AddOutbox(Fast).UsePostgreSql<TestDbContext>().UseDatabasePerTenant(source, o => o.RefreshInterval = TimeSpan.FromMinutes(10)).UseTransport<TenantTransport>();
        return builder.Build();
    }

    private static void Fast(OutboxDispatcherOptions o)
    {
        o.PollingInterval = TimeSpan.FromMilliseconds(500);
        o.BatchSize = 25;
        o.LeaseDuration = TimeSpan.FromSeconds(10);
        o.SendTimeout = TimeSpan.FromSeconds(5);
        o.ShutdownTimeout = TimeSpan.FromSeconds(2);
    }

    /// <summary>Each tenant publishes <see cref="PerPhase"/> messages, two units of work of ten, with a business row each.</summary>
    private static async Task PublishAsync(IHost host, IEnumerable<OutboxDatabase> tenants, ConcurrentDictionary<Guid, string> published)
    {
        await Parallel.ForEachAsync(tenants, new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = Ct }, async (tenant, ct) =>
        {
            for (var unit = 0; unit < PerPhase / 10; unit++)
            {
                await using var scope = host.Services.CreateAsyncScope();
                scope.ServiceProvider.GetRequiredService<OutboxTenantContext>().Use(tenant);
                var context = scope.ServiceProvider.GetRequiredService<TestDbContext>();
                var ids = new List<Guid>();
                for (var i = 0; i < 10; i++)
                {
                    context.Add(new Order { Number = $"{tenant.TenantId}-{Guid.NewGuid():N}" });
                    var id = Guid.CreateVersion7();
                    context.Publish(new OrderPlaced(id, tenant.TenantId, i), new PublishOptions { MessageId = id, Destination = "orders.placed" });
                    ids.Add(id);
                }

                await context.SaveChangesAsync(ct);
                foreach (var id in ids)
                {
                    published[id] = tenant.TenantId;
                }
            }
        });
    }

    private static async Task SetConnectionsAllowedAsync(PostgresServer server, OutboxDatabase tenant, bool allowed)
    {
        var name = new NpgsqlConnectionStringBuilder(tenant.ConnectionString).Database!;
        await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(server.ConnectionString) { Pooling = false }.ConnectionString);
        await connection.OpenAsync(Ct);
        await using var alter = new NpgsqlCommand($"ALTER DATABASE \"{name}\" WITH ALLOW_CONNECTIONS {(allowed ? "true" : "false")}", connection);
        await alter.ExecuteNonQueryAsync(Ct);
        if (!allowed)
        {
            await using var kill = new NpgsqlCommand("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", connection);
            kill.Parameters.Add(new NpgsqlParameter { Value = name });
            await kill.ExecuteNonQueryAsync(Ct);
        }
    }

    private static async Task<int> CountRowsAsync(OutboxDatabase tenant)
    {
        await using var context = new TestDbContext(new DbContextOptionsBuilder<TestDbContext>().UseNpgsql(tenant.ConnectionString).UseOutbox().Options);
        return await context.Set<OutboxRecord>().CountAsync(Ct);
    }

    /// <summary>Waits for <paramref name="done"/>; fails only when nothing has changed in <paramref name="describe"/> for two minutes.</summary>
    private static async Task WaitUntilAsync(Func<bool> done, Func<string> describe)
    {
        var last = describe();
        var lastChange = DateTime.UtcNow;
        while (!done())
        {
            await Task.Delay(100, Ct);
            var now = describe();
            if (now != last)
            {
                (last, lastChange) = (now, DateTime.UtcNow);
            }
            else if (DateTime.UtcNow - lastChange > TimeSpan.FromMinutes(2))
            {
                Assert.Fail($"No progress for two minutes: {now}");
            }
        }
    }

    private sealed class TenantSource(IEnumerable<OutboxDatabase> initial) : IOutboxDatabaseSource
    {
        private volatile OutboxDatabase[] _databases = [.. initial];

        public void Set(IEnumerable<OutboxDatabase> databases) => _databases = [.. databases];

        public ValueTask<IReadOnlyCollection<OutboxDatabase>> GetDatabasesAsync(CancellationToken cancellationToken) =>
            ValueTask.FromResult<IReadOnlyCollection<OutboxDatabase>>(_databases);
    }

    public sealed class TenantTransport : RecordingTransport
    {
        public HashSet<Guid> DeliveredIds() => Sent.Select(m => m.MessageId).ToHashSet();
    }
    /// <summary>Records what it sent; holds one tenant's sends until <see cref="Release"/>, counting how many are held at once.</summary>
    public sealed class HeldTransport : IMessageTransport
    {
        private readonly ConcurrentQueue<OutboxMessage> _sent = new();
        private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private string? _held;
        private int _heldCount;
        private int _maxHeld;

        public IReadOnlyCollection<OutboxMessage> Sent => _sent;

        public int HeldCount => Volatile.Read(ref _heldCount);

        public int MaxHeld => Volatile.Read(ref _maxHeld);

        public void Hold(string tenantId) => _held = tenantId;

        public void Release() => _released.TrySetResult();

        public HashSet<Guid> DeliveredIds() => Sent.Select(m => m.MessageId).ToHashSet();

        public async Task SendAsync(OutboxMessage message, CancellationToken cancellationToken)
        {
            if (message.TenantId == _held && !_released.Task.IsCompleted)
            {
                var now = Interlocked.Increment(ref _heldCount);
                int max;
                while ((max = Volatile.Read(ref _maxHeld)) < now && Interlocked.CompareExchange(ref _maxHeld, now, max) != max)
                {
                }

                await _released.Task.WaitAsync(cancellationToken);
                Interlocked.Decrement(ref _heldCount);
            }

            _sent.Enqueue(message);
        }
    }
}
