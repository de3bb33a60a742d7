using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using Outbox.TestInfrastructure;
using Outbox.TestInfrastructure.TransportContract;
using RabbitMQ.Client;

namespace Outbox.RabbitMQ.Tests.Infrastructure;

/// <summary>
/// One test's world: an order database (outbox), a payment database (inbox), an exchange and a queue of its own on
/// the shared broker, and a host wired the way a user wires producer and consumer.
/// </summary>
public sealed class ShopEnvironment : IAsyncDisposable
{
    public const string Consumer = "payments";

    private readonly List<IHost> _hosts = [];

    private ShopEnvironment(RabbitMqServer broker, string ordersDb, string paymentsDb)
    {
        Broker = broker;
        OrdersConnectionString = ordersDb;
        PaymentsConnectionString = paymentsDb;
        var suffix = Guid.NewGuid().ToString("N")[..10];
        Exchange = $"test.{suffix}.orders";
        Queue = $"test.{suffix}.payments";
    }

    public RabbitMqServer Broker { get; }

    public string OrdersConnectionString { get; }

    public string PaymentsConnectionString { get; }

    public string Exchange { get; }

    public string Queue { get; }

    public HandlerProbe Probe { get; } = new();

    public ContractOutcomes Recorder { get; } = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static async Task<ShopEnvironment> CreateAsync(BrokerFixture fixture)
    {
        var (broker, postgres) = await fixture.AcquireAsync();
        var environment = new ShopEnvironment(
            broker,
            await postgres.CreateDatabaseAsync("outbox_rmq_orders", Ct),
            await postgres.CreateDatabaseAsync("outbox_rmq_payments", Ct));
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

    public OrdersDbContext CreateOrdersContext() =>
        new(new DbContextOptionsBuilder<OrdersDbContext>().UseNpgsql(OrdersConnectionString).UseOutbox().Options);

    public PaymentsDbContext CreatePaymentsContext() =>
        new(new DbContextOptionsBuilder<PaymentsDbContext>().UseNpgsql(PaymentsConnectionString).Options);

    /// <summary>
    /// Starts a host with the dispatcher (orders → RabbitMQ) and the consumer (RabbitMQ → payments inbox), both on
    /// this environment's exchange and queue. The test's settings are applied last.
    /// </summary>
    public async Task<IHost> StartHostAsync(
        bool dispatcher = true,
        bool consumer = true,
        Action<OutboxDispatcherOptions>? configureDispatcher = null,
        Action<RabbitMqOptions>? configureRabbitMq = null,
        Action<RabbitMqConsumerOptions>? configureConsumer = null,
        Action<InboxConsumerOptions>? configureInbox = null,
        Action<DbContextOptionsBuilder>? configurePayments = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Logging.AddProvider(new ContractTestOutputLoggerProvider());

        // Producer side: the outbox in the order database, sent to RabbitMQ.
        builder.Services.AddDbContext<OrdersDbContext>((sp, options) => options.UseNpgsql(OrdersConnectionString).UseOutbox(sp));
        builder.Services.AddOutbox(o =>
            {
                o.Enabled = dispatcher;
                o.PollingInterval = TimeSpan.FromMilliseconds(100);
                o.RetryBaseDelay = TimeSpan.FromMilliseconds(100);
                o.RetryMaxDelay = TimeSpan.FromSeconds(1);
                o.ShutdownTimeout = TimeSpan.FromSeconds(2);
                configureDispatcher?.Invoke(o);
            })
            .UsePostgreSql<OrdersDbContext>()
            .UseRabbitMq(o =>
            {
                o.Uri = Broker.AmqpUri;
                o.ReconnectInterval = TimeSpan.FromMilliseconds(250);
                o.AddExchange(Exchange).AddQueue(Queue, Exchange);
                configureRabbitMq?.Invoke(o);
            });

        // Consumer side: the inbox in the payment database, fed from the queue.
        if (consumer)
        {
            builder.Services.AddSingleton(Probe);
            builder.Services.AddDbContext<PaymentsDbContext>(options =>
            {
                options.UseNpgsql(PaymentsConnectionString);
                configurePayments?.Invoke(options);
            });
            builder.Services
                .AddOutboxConsumer<PaymentsDbContext>(Consumer, c => c
                    .AddHandler<OrderPlaced, OrderPlacedHandler>()
                    .Configure(o =>
                    {
                        o.RetryBaseDelay = TimeSpan.FromMilliseconds(20);
                        o.RetryMaxDelay = TimeSpan.FromMilliseconds(100);
                        o.RequeueDelay = TimeSpan.FromMilliseconds(200);
                        configureInbox?.Invoke(o);
                    }))
                .UseRabbitMq(Queue, o =>
                {
                    o.ShutdownTimeout = TimeSpan.FromSeconds(2);
                    configureConsumer?.Invoke(o);
                });
            Recorder.Attach(builder.Services, Consumer);
        }

        var host = builder.Build();
        _hosts.Add(host);
        await host.StartAsync(Ct);
        if (consumer)
        {
            // The consumer connects in the background: wait until it consumes (its topology is then declared).
            var hosted = host.Services.GetRequiredKeyedService<RabbitMqInboxConsumer>(Consumer);
            await WaitUntilAsync(() => Task.FromResult(hosted.CurrentChannel is not null), TimeSpan.FromSeconds(30), "the consumer to start consuming");
        }

        return host;
    }

    /// <summary>Places <paramref name="count"/> orders, each publishing an OrderPlaced to this environment's exchange.</summary>
    public async Task<List<Guid>> PlaceOrdersAsync(int count, Func<int, PublishOptions>? options = null, string prefix = "O")
    {
        var ids = new List<Guid>(count);
        for (var done = 0; done < count;)
        {
            await using var context = CreateOrdersContext();
            var chunk = Math.Min(500, count - done);
            for (var i = 0; i < chunk; i++)
            {
                var order = new Order { Number = $"{prefix}-{done + i}" };
                context.Orders.Add(order);
                var publish = options?.Invoke(done + i) ?? new PublishOptions();
                publish.Destination ??= Exchange;
                ids.Add(context.Publish(new OrderPlaced(order.Id, order.Number), publish));
            }

            await context.SaveChangesAsync(Ct);
            done += chunk;
        }

        return ids;
    }

    public async Task<int> CountPaymentsAsync()
    {
        await using var context = CreatePaymentsContext();
        return await context.Payments.CountAsync(Ct);
    }

    public async Task<int> CountOutboxAsync()
    {
        await using var context = CreateOrdersContext();
        return await context.Set<Outbox.EntityFrameworkCore.OutboxRecord>().CountAsync(Ct);
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

    /// <summary>Stops and disposes a host started by <see cref="StartHostAsync"/>, as an application's exit would.</summary>
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

    /// <summary>A plain client connection to the broker, for publishing raw messages and inspecting queues.</summary>
    public Task<IConnection> ConnectAsync() =>
        new ConnectionFactory { Uri = Broker.AmqpUri, ClientProvidedName = "outbox-tests" }.CreateConnectionAsync(Ct);

    public async ValueTask DisposeAsync()
    {
        foreach (var host in _hosts)
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

        // Leave the shared broker clean.
        try
        {
            await using var connection = await new ConnectionFactory { Uri = Broker.AmqpUri }.CreateConnectionAsync(CancellationToken.None);
            await using var channel = await connection.CreateChannelAsync();
            await channel.QueueDeleteAsync(Queue, ifUnused: false, ifEmpty: false);
            await channel.ExchangeDeleteAsync(Exchange, ifUnused: false);
        }
        catch (Exception)
        {
            // The broker may be gone; the names are unique anyway.
        }

        NpgsqlConnection.ClearAllPools();
    }
}
