using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Outbox.EntityFrameworkCore.Tests.Infrastructure;
using Outbox.EntityFrameworkCore.Tests.PostgreSql;
using Outbox.EntityFrameworkCore.Tests.Sqlite;
using Outbox.TestInfrastructure;
using Outbox.Testing;
using Polly;

namespace Outbox.EntityFrameworkCore.Tests.Registration;

/// <summary>
/// Several outboxes in one host (issue 14): a modular monolith's two modules, each with its DbContext, database,
/// provider and transport. On a main without the feature, the second store registration replaced (later: refused) the
/// first, so these fail there.
/// </summary>
public sealed class MultipleOutboxesTests : IAsyncDisposable
{
    private const int PerOutbox = 300;
    private readonly string _billingPath = Path.Combine(Path.GetTempPath(), $"outbox-billing-{Guid.NewGuid():N}.db");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task AddOutbox_PostgreSqlAndSqliteOutboxesInOneHost_BothDrainConcurrentlyEachMessageExactlyOnce()
    {
        await using var orders = (PostgreSqlTestDatabase)await new PostgreSqlFixture().CreateDatabaseAsync();
        await CreateBillingDatabaseAsync();
        using var host = BuildHost(orders);
        await host.StartAsync(Ct);

        // Both modules publish at once, in units of work of 10 messages with a business row each.
        await Task.WhenAll(
            PublishAsync<TestDbContext>(host, i => new Order { Number = $"o-{i}" }, "orders.placed"),
            PublishAsync<BillingDbContext>(host, i => new Invoice { Number = $"i-{i}" }, "billing.invoiced"));
        await host.Services.WaitForOutboxDeliveryAsync(TimeSpan.FromSeconds(120), Ct);
        await host.StopAsync(Ct);

        var ordersSent = host.Services.GetRequiredService<OrdersTransport>();
        var billingSent = host.Services.GetRequiredService<BillingTransport>();
        AssertExactlyOnce(ordersSent, "orders.placed");
        AssertExactlyOnce(billingSent, "billing.invoiced");
    }

    [Fact]
    public async Task UseSerializerAndConfigureResilience_OnANamedOutbox_ApplyToThatOutboxAlone()
    {
        await using var orders = (PostgreSqlTestDatabase)await new PostgreSqlFixture().CreateDatabaseAsync();
        await CreateBillingDatabaseAsync();
        var billingSends = 0;
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddDbContext<TestDbContext>((sp, o) => orders.Configure(o.UseOutbox(sp)));
        builder.Services.AddDbContext<BillingDbContext>((sp, o) => o.UseSqlite($"Data Source={_billingPath};Default Timeout=30").UseOutbox(sp));
        builder.Services.AddOutbox("orders", Fast).UsePostgreSql<TestDbContext>().UseTransport<OrdersTransport>();
        builder.Services.AddOutbox("billing", Fast).UseSqlite<BillingDbContext>().UseTransport<BillingTransport>()
            .UseSerializer(new MarkedSerializer())
            .ConfigureResilience((pipeline, options) =>
            {
                // Sees every outcome of this outbox's sends: counts them, handles none.
                pipeline.AddRetry(new Polly.Retry.RetryStrategyOptions
                {
                    ShouldHandle = _ =>
                    {
                        Interlocked.Increment(ref billingSends);
                        return ValueTask.FromResult(false);
                    },
                });
                pipeline.AddOutboxDefaults(options);
            });
        using var host = builder.Build();
        await host.StartAsync(Ct);

        await Task.WhenAll(
            PublishAsync<TestDbContext>(host, i => new Order { Number = $"o-{i}" }, "orders.placed"),
            PublishAsync<BillingDbContext>(host, i => new Invoice { Number = $"i-{i}" }, "billing.invoiced"));
        await host.Services.WaitForOutboxDeliveryAsync(TimeSpan.FromSeconds(120), Ct);
        await host.StopAsync(Ct);

        var ordersSent = host.Services.GetRequiredService<OrdersTransport>();
        var billingSent = host.Services.GetRequiredService<BillingTransport>();
        AssertExactlyOnce(ordersSent, "orders.placed");
        AssertExactlyOnce(billingSent, "billing.invoiced");
        Assert.All(billingSent.Sent, m => Assert.Equal(MarkedSerializer.Type, m.ContentType));
        Assert.All(billingSent.Sent, m => Assert.StartsWith(MarkedSerializer.Mark, System.Text.Encoding.UTF8.GetString(m.Payload.Span), StringComparison.Ordinal));
        Assert.All(ordersSent.Sent, m => Assert.Equal("application/json", m.ContentType));
        Assert.All(ordersSent.Sent, m => Assert.StartsWith("{", System.Text.Encoding.UTF8.GetString(m.Payload.Span), StringComparison.Ordinal));
        Assert.Equal(PerOutbox, Volatile.Read(ref billingSends)); // billing's pipeline saw billing's sends, and nothing else
    }

    [Fact]
    public void UseSqlite_SecondOutboxOnTheContextOfTheFirst_ThrowsNamingBoth()
    {
        var services = new ServiceCollection();
        services.AddOutbox("orders").UsePostgreSql<TestDbContext>();

        var error = Assert.Throws<InvalidOperationException>(() => services.AddOutbox("billing").UseSqlite<TestDbContext>());

        Assert.Contains("AddOutbox(\"orders\").UsePostgreSql<TestDbContext>()", error.Message, StringComparison.Ordinal);
        Assert.Contains("AddOutbox(\"billing\").UseSqlite<TestDbContext>()", error.Message, StringComparison.Ordinal);
        Assert.Contains("its own DbContext type", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void UseSqlite_SameOutboxAndContextTwice_RegistersOneStore()
    {
        var services = new ServiceCollection();
        services.AddOutbox("billing").UseSqlite<BillingDbContext>();
        services.AddOutbox("billing").UseSqlite<BillingDbContext>();

        Assert.Single(services, d => d.IsKeyedService && d.ServiceType == typeof(IOutboxStore));
        Assert.Single(services, d => d.ServiceType == typeof(OutboxStoreRegistration));
    }

    [Fact]
    public async Task StartAsync_ContextThatPublishesButIsNoOutboxStore_FailsNamingItAndTheOutboxes()
    {
        await CreateBillingDatabaseAsync();
        await using var orders = new SqliteTestDatabase(Path.Combine(Path.GetTempPath(), $"outbox-orders-{Guid.NewGuid():N}.db"));
        await orders.InitializeAsync();
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddDbContext<TestDbContext>((sp, o) => orders.Configure(o.UseOutbox(sp)));
        builder.Services.AddDbContext<BillingDbContext>((sp, o) => o.UseSqlite($"Data Source={_billingPath}").UseOutbox(sp));
        builder.Services.AddOutbox("orders").UseSqlite<TestDbContext>().UseInMemoryTransport();
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => host.StartAsync(Ct));

        Assert.Contains("BillingDbContext publishes into its outbox tables", error.Message, StringComparison.Ordinal);
        Assert.Contains("AddOutbox(\"orders\").UseSqlite<TestDbContext>()", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartAsync_TwoOutboxesOnTheSameTablesOfOneDatabase_FailsNamingBoth()
    {
        await CreateBillingDatabaseAsync();
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddDbContext<TestDbContext>((sp, o) => o.UseSqlite($"Data Source={_billingPath}").UseOutbox(sp));
        builder.Services.AddDbContext<BillingDbContext>((sp, o) => o.UseSqlite($"Data Source={_billingPath}").UseOutbox(sp));
        builder.Services.AddOutbox("orders").UseSqlite<TestDbContext>().UseInMemoryTransport();
        builder.Services.AddOutbox("billing").UseSqlite<BillingDbContext>().UseInMemoryTransport();
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => host.StartAsync(Ct));

        Assert.Contains("AddOutbox(\"orders\").UseSqlite<TestDbContext>() and AddOutbox(\"billing\").UseSqlite<BillingDbContext>()", error.Message, StringComparison.Ordinal);
        Assert.Contains("the same outbox table", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartAsync_StoreOnTheBaseTypeTheContextIsRegisteredAs_StartsAndDelivers()
    {
        // The samples' shape: one context type per provider, registered as their common base type, whose store is named
        // by the base type (AddDbContext<PaymentsDb, SqlitePaymentsDb> + UseSqlite<PaymentsDb>()).
        await CreateBillingDatabaseAsync();
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddDbContext<ModuleDbContext, SqliteModuleDbContext>((sp, o) => o.UseSqlite($"Data Source={_billingPath}").UseOutbox(sp));
        builder.Services.AddOutbox(Fast).UseSqlite<ModuleDbContext>().UseTransport<BillingTransport>();
        using var host = builder.Build();
        await host.StartAsync(Ct);
        await PublishAsync<ModuleDbContext>(host, i => new Invoice { Number = $"i-{i}" }, "billing.invoiced");
        await host.Services.WaitForOutboxDeliveryAsync(TimeSpan.FromSeconds(120), Ct);
        await host.StopAsync(Ct);

        AssertExactlyOnce(host.Services.GetRequiredService<BillingTransport>(), "billing.invoiced");
    }

    public ValueTask DisposeAsync()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        foreach (var suffix in new[] { "", "-wal", "-shm" })
        {
            File.Delete(_billingPath + suffix);
        }

        return ValueTask.CompletedTask;
    }

    private static void AssertExactlyOnce(RecordingTransport transport, string destination)
    {
        Assert.All(transport.Sent, m => Assert.Equal(destination, m.Destination));
        var counts = transport.Sent.GroupBy(m => m.MessageId).Select(g => g.Count()).ToList();
        Assert.Equal(PerOutbox, counts.Count);
        Assert.All(counts, c => Assert.Equal(1, c));
    }

    private static async Task PublishAsync<TContext>(IHost host, Func<int, object> row, string destination)
        where TContext : DbContext
    {
        await Task.Yield();
        for (var unit = 0; unit < PerOutbox / 10; unit++)
        {
            await using var scope = host.Services.CreateAsyncScope();
            var context = scope.ServiceProvider.GetRequiredService<TContext>();
            for (var i = unit * 10; i < (unit + 1) * 10; i++)
            {
                context.Add(row(i));
                context.Publish(new OrderPlaced(Guid.NewGuid(), $"n-{i}", i), new PublishOptions { Destination = destination });
            }

            await context.SaveChangesAsync(Ct);
        }
    }

    private IHost BuildHost(PostgreSqlTestDatabase orders)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddDbContext<TestDbContext>((sp, o) => orders.Configure(o.UseOutbox(sp)));
        builder.Services.AddDbContext<BillingDbContext>((sp, o) => o.UseSqlite($"Data Source={_billingPath};Default Timeout=30").UseOutbox(sp));
        builder.Services.AddOutbox("orders", Fast).UsePostgreSql<TestDbContext>().UseTransport<OrdersTransport>();
        builder.Services.AddOutbox("billing", Fast).UseSqlite<BillingDbContext>().UseTransport<BillingTransport>();
        return builder.Build();
    }

    private static void Fast(OutboxDispatcherOptions o)
    {
        o.PollingInterval = TimeSpan.FromMilliseconds(50);
        o.BatchSize = 25;
        o.ShutdownTimeout = TimeSpan.FromSeconds(2);
    }

    private async Task CreateBillingDatabaseAsync()
    {
        await using var context = new BillingDbContext(new DbContextOptionsBuilder<BillingDbContext>().UseSqlite($"Data Source={_billingPath}").Options);
        await context.Database.EnsureCreatedAsync(Ct);
    }

    /// <summary>JSON behind a marker, under its own content type: which serializer wrote a payload shows in it.</summary>
    private sealed class MarkedSerializer : IMessageSerializer
    {
        public const string Mark = "billing:";
        public const string Type = "application/x-billing+json";

        public string ContentType => Type;

        public byte[] Serialize(object message, Type type) =>
            [.. System.Text.Encoding.UTF8.GetBytes(Mark), .. SystemTextJsonMessageSerializer.Default.Serialize(message, type)];

        public object Deserialize(ReadOnlyMemory<byte> payload, Type type) =>
            SystemTextJsonMessageSerializer.Default.Deserialize(payload[Mark.Length..], type);
    }

    public sealed class OrdersTransport : RecordingTransport;

    public sealed class BillingTransport : RecordingTransport;
}

/// <summary>The second module's context: its own entity and outbox tables, in a SQLite database.</summary>
public sealed class BillingDbContext(DbContextOptions<BillingDbContext> options) : DbContext(options)
{
    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<Invoice>(e =>
        {
            e.ToTable("invoices");
            e.HasKey(x => x.Id);
        });
        modelBuilder.AddOutbox();
    }
}
/// <summary>A module's context as the samples write it: a base type with the model, one derived type per provider.</summary>
public class ModuleDbContext(DbContextOptions options) : DbContext(options)
{
    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<Invoice>(e =>
        {
            e.ToTable("invoices");
            e.HasKey(x => x.Id);
        });
        modelBuilder.AddOutbox();
    }
}

public sealed class SqliteModuleDbContext(DbContextOptions<SqliteModuleDbContext> options) : ModuleDbContext(options);

public sealed class Invoice
{
    public Guid Id { get; set; } = Guid.CreateVersion7();

    public required string Number { get; set; }
}
