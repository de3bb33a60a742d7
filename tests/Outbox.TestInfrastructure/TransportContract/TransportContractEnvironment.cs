using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Outbox.TestInfrastructure.TransportContract;

/// <summary>
/// One contract test's world: an order database (outbox) and a payment database (inbox) on real PostgreSQL, the
/// transport's <see cref="ITransportBinding"/>, and hosts wired the way a user wires producer and consumer.
/// </summary>
public sealed class TransportContractEnvironment : IAsyncDisposable
{
    /// <summary>The consumer name.</summary>
    public const string Consumer = "contract";

    private readonly List<IHost> _hosts = [];

    private TransportContractEnvironment(ITransportBinding binding, string ordersDb, string paymentsDb)
    {
        Binding = binding;
        OrdersConnectionString = ordersDb;
        PaymentsConnectionString = paymentsDb;
    }

    /// <summary>The transport under test.</summary>
    public ITransportBinding Binding { get; }

    /// <summary>The producer's database.</summary>
    public string OrdersConnectionString { get; }

    /// <summary>The consumer's database.</summary>
    public string PaymentsConnectionString { get; }

    /// <summary>What the handler saw.</summary>
    public ContractProbe Probe { get; } = new();

    /// <summary>Every inbox outcome.</summary>
    public ContractOutcomes Outcomes { get; } = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Creates the databases and the binding.</summary>
    public static async Task<TransportContractEnvironment> CreateAsync(PostgresServer postgres, ITransportContractFixture fixture)
    {
        var binding = await fixture.CreateBindingAsync(Ct);
        var environment = new TransportContractEnvironment(
            binding,
            await postgres.CreateDatabaseAsync("outbox_contract_orders", Ct),
            await postgres.CreateDatabaseAsync("outbox_contract_payments", Ct));
        await using (var orders = environment.CreateOrdersContext())
        {
            await orders.Database.EnsureCreatedAsync(Ct);
        }

        await using (var payments = environment.CreatePaymentsContext())
        {
            await payments.Database.EnsureCreatedAsync(Ct);
        }

        return environment;
    }

    /// <summary>A context on the producer's database.</summary>
    public ContractOrdersDb CreateOrdersContext() =>
        new(new DbContextOptionsBuilder<ContractOrdersDb>().UseNpgsql(OrdersConnectionString).UseOutbox().Options);

    /// <summary>A context on the consumer's database.</summary>
    public ContractPaymentsDb CreatePaymentsContext() =>
        new(new DbContextOptionsBuilder<ContractPaymentsDb>().UseNpgsql(PaymentsConnectionString).Options);

    /// <summary>
    /// Starts a host with the dispatcher (orders → transport) and the consumer (transport → payments inbox), and waits
    /// until the consumer receives. The test's settings are applied last.
    /// </summary>
    public async Task<IHost> StartHostAsync(
        bool dispatcher = true,
        bool consumer = true,
        ContractConsumerSettings? consumerSettings = null,
        Action<OutboxDispatcherOptions>? configureDispatcher = null,
        Action<InboxConsumerOptions>? configureInbox = null,
        Action<DbContextOptionsBuilder>? configurePayments = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Logging.AddProvider(new ContractTestOutputLoggerProvider());

        builder.Services.AddDbContext<ContractOrdersDb>((sp, options) => options.UseNpgsql(OrdersConnectionString).UseOutbox(sp));
        var outbox = builder.Services.AddOutbox(o =>
            {
                o.Enabled = dispatcher;
                o.PollingInterval = TimeSpan.FromMilliseconds(100);
                o.RetryBaseDelay = TimeSpan.FromMilliseconds(100);
                o.RetryMaxDelay = TimeSpan.FromSeconds(1);
                o.ShutdownTimeout = TimeSpan.FromSeconds(2);
                configureDispatcher?.Invoke(o);
            })
            .UsePostgreSql<ContractOrdersDb>();
        Binding.UseTransport(outbox);

        if (consumer)
        {
            builder.Services.AddSingleton(Probe);
            builder.Services.AddDbContext<ContractPaymentsDb>(options =>
            {
                options.UseNpgsql(PaymentsConnectionString);
                configurePayments?.Invoke(options);
            });
            var consumerBuilder = builder.Services.AddOutboxConsumer<ContractPaymentsDb>(Consumer, c => c
                .AddHandler<ContractOrderPlaced, ContractOrderPlacedHandler>()
                .Configure(o =>
                {
                    o.RetryBaseDelay = TimeSpan.FromMilliseconds(20);
                    o.RetryMaxDelay = TimeSpan.FromMilliseconds(100);
                    o.RequeueDelay = TimeSpan.FromMilliseconds(200);
                    configureInbox?.Invoke(o);
                }));
            Binding.UseConsumer(consumerBuilder, consumerSettings ?? new ContractConsumerSettings());
            Outcomes.Attach(builder.Services, Consumer);
        }

        var host = builder.Build();
        _hosts.Add(host);
        await host.StartAsync(Ct);
        if (consumer)
        {
            using var waiting = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            waiting.CancelAfter(TimeSpan.FromSeconds(60));
            await Binding.WaitUntilConsumingAsync(host.Services, Consumer, waiting.Token);
        }

        return host;
    }

    /// <summary>Stops and disposes a host, as an application's exit would.</summary>
    public async Task StopHostAsync(IHost host)
    {
        _hosts.Remove(host);
        try
        {
            await host.StopAsync(CancellationToken.None);
        }
        finally
        {
            host.Dispose();
        }
    }

    /// <summary>Places <paramref name="count"/> orders, each publishing a <see cref="ContractOrderPlaced"/> to the binding's destination.</summary>
    public async Task<List<Guid>> PlaceOrdersAsync(int count, Func<int, PublishOptions>? options = null, string prefix = "O")
    {
        var ids = new List<Guid>(count);
        for (var done = 0; done < count;)
        {
            await using var context = CreateOrdersContext();
            var chunk = Math.Min(500, count - done);
            for (var i = 0; i < chunk; i++)
            {
                var order = new ContractOrder { Number = $"{prefix}-{done + i}" };
                context.Orders.Add(order);
                var publish = options?.Invoke(done + i) ?? new PublishOptions();
                publish.Destination ??= Binding.Destination;
                ids.Add(context.Publish(new ContractOrderPlaced(order.Id, order.Number), publish));
            }

            await context.SaveChangesAsync(Ct);
            done += chunk;
        }

        return ids;
    }

    /// <summary>An envelope as the dispatcher would hand it to the transport.</summary>
    public OutboxMessage Envelope(string number, string? partitionKey = null, long? sequence = null, IReadOnlyDictionary<string, string>? headers = null) => new()
    {
        Position = 1,
        MessageId = Guid.CreateVersion7(),
        Destination = Binding.Destination,
        MessageType = typeof(ContractOrderPlaced).FullName!,
        PartitionKey = partitionKey,
        SequenceNumber = sequence,
        Payload = SystemTextJsonMessageSerializer.Default.Serialize(new ContractOrderPlaced(Guid.NewGuid(), number), typeof(ContractOrderPlaced)),
        ContentType = "application/json",
        Headers = headers ?? new Dictionary<string, string>(),
        CreatedAt = DateTimeOffset.UtcNow,
        Attempt = 1,
    };

    /// <summary>The payments' message ids.</summary>
    public async Task<List<Guid>> PaidMessageIdsAsync()
    {
        await using var context = CreatePaymentsContext();
        return await context.Payments.Select(p => p.MessageId).ToListAsync(Ct);
    }

    /// <summary>How many payments there are.</summary>
    public async Task<int> CountPaymentsAsync()
    {
        await using var context = CreatePaymentsContext();
        return await context.Payments.CountAsync(Ct);
    }

    /// <summary>How many rows wait in the outbox.</summary>
    public async Task<int> CountOutboxAsync()
    {
        await using var context = CreateOrdersContext();
        return await context.Set<Outbox.EntityFrameworkCore.OutboxRecord>().CountAsync(Ct);
    }

    /// <summary>The inbox's dead letters.</summary>
    public async Task<List<Outbox.EntityFrameworkCore.InboxDeadLetterRecord>> InboxDeadLettersAsync()
    {
        await using var context = CreatePaymentsContext();
        return await context.Set<Outbox.EntityFrameworkCore.InboxDeadLetterRecord>().AsNoTracking().OrderBy(d => d.Id).ToListAsync(Ct);
    }

    /// <summary>The outbox's dead letters.</summary>
    public async Task<List<Outbox.EntityFrameworkCore.DeadLetterRecord>> OutboxDeadLettersAsync()
    {
        await using var context = CreateOrdersContext();
        return await context.Set<Outbox.EntityFrameworkCore.DeadLetterRecord>().AsNoTracking().ToListAsync(Ct);
    }

    /// <summary>Polls <paramref name="condition"/> until it holds; fails the test with <paramref name="what"/> after <paramref name="timeout"/>.</summary>
    public static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"Timed out after {timeout.TotalSeconds:0} s waiting for {what}.");
            }

            await Task.Delay(50, Ct);
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        foreach (var host in _hosts.ToArray())
        {
            try
            {
                await host.StopAsync(CancellationToken.None);
            }
            finally
            {
                host.Dispose();
            }
        }

        _hosts.Clear();
        await Binding.DisposeAsync();
        NpgsqlConnection.ClearAllPools();
    }
}

/// <summary>
/// The base of every contract class: acquires the servers (skipping, or failing under
/// <see cref="ServerRequirement.Required"/>, when one is missing) and gives each test a fresh
/// <see cref="TransportContractEnvironment"/>.
/// </summary>
public abstract class TransportContractTests<TFixture>(TFixture fixture) : IAsyncLifetime
    where TFixture : ITransportContractFixture
{
    /// <summary>A generous bound for anything the tests wait for: they run on a loaded machine.</summary>
    protected static readonly TimeSpan Timeout = TimeSpan.FromSeconds(90);

    private TransportContractEnvironment? _environment;

    /// <summary>This test's world.</summary>
    protected TransportContractEnvironment Environment => _environment ?? throw new InvalidOperationException("Not initialized.");

    /// <summary>The test's cancellation token.</summary>
    protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>The test's output.</summary>
    protected static ITestOutputHelper Output => TestContext.Current.TestOutputHelper!;

    /// <inheritdoc />
    public async ValueTask InitializeAsync()
    {
        PostgresServer postgres;
        try
        {
            postgres = await fixture.AcquireServersAsync(Ct);
        }
        catch (ServerUnavailableException ex) when (!ServerRequirement.Required)
        {
            Assert.Skip($"A server is missing (set {ServerRequirement.EnvironmentVariable}=1 to make this a failure): {ex.Message}");
            throw;
        }

        _environment = await TransportContractEnvironment.CreateAsync(postgres, fixture);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_environment is not null)
        {
            await _environment.DisposeAsync();
        }

        GC.SuppressFinalize(this);
    }

    /// <summary>Asserts that exactly <paramref name="expected"/> were processed, each once, and nothing else.</summary>
    protected async Task AssertProcessedExactlyOnceAsync(IReadOnlyCollection<Guid> expected)
    {
        var paid = await Environment.PaidMessageIdsAsync();
        var duplicates = paid.GroupBy(id => id).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        Assert.True(duplicates.Count == 0, $"{duplicates.Count} message(s) were processed more than once, e.g. {duplicates.FirstOrDefault()}");
        var lost = expected.Except(paid).ToList();
        Assert.True(lost.Count == 0, $"{lost.Count} message(s) were never processed, e.g. {lost.FirstOrDefault()}");
        Assert.Equal(expected.Order(), paid.Order());
    }
}
