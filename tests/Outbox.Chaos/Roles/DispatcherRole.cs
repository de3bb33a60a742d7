using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Outbox.Chaos.Model;
using Outbox.Chaos.Orchestration;
using Outbox.Kafka;
using Outbox.ActiveMQ;
using Outbox.RabbitMQ;

namespace Outbox.Chaos.Roles;

/// <summary>A dispatcher process: the library's dispatcher, PostgreSQL store, RabbitMQ transport, plus fault injection.</summary>
public static class DispatcherRole
{
    public static async Task<int> RunAsync(ChaosOptions options, CancellationToken cancellationToken)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddDbContext<OrdersDb>((sp, o) => o.UseNpgsql(options.OrdersConnection).UseOutbox(sp));
        var outbox = builder.Services.AddOutbox(o =>
            {
                o.Concurrency = 2;
                o.BatchSize = 200;
                o.LeaseDuration = TimeSpan.FromSeconds(10);
                o.SendTimeout = TimeSpan.FromSeconds(5);
                o.MaxAttempts = 50;
                o.RetryBaseDelay = TimeSpan.FromMilliseconds(100);
                o.RetryMaxDelay = TimeSpan.FromSeconds(3);
                o.ShutdownTimeout = TimeSpan.FromSeconds(2);
            })
            .UsePostgreSql<OrdersDb>();
        if (options.Transport == "activemq")
        {
            outbox.UseActiveMq(o => ChaosTopology.Configure(o, options));
        }
        else if (options.IsKafka)
        {
            outbox.UseKafka(o => ChaosTopology.Configure(o, options));
        }
        else
        {
            outbox.UseRabbitMq(o => ChaosTopology.Configure(o, options));
        }

        DecorateTransport(builder.Services, inner => new FaultyTransport(inner, options.FaultRate, options.Seed));
        using var host = builder.Build();
        await host.RunAsync(cancellationToken);
        return 0;
    }

    private static void DecorateTransport(IServiceCollection services, Func<IMessageTransport, IMessageTransport> decorate)
    {
        var registered = services.Last(d => d.ServiceType == typeof(IMessageTransport));
        var factory = registered.ImplementationFactory ?? throw new InvalidOperationException("Expected a factory registration of the transport.");
        services.Remove(registered);
        services.AddSingleton(sp => decorate((IMessageTransport)factory(sp)));
    }
}

/// <summary>The harness's RabbitMQ topology: one exchange, one queue for the payment service.</summary>
public static class ChaosTopology
{
    public static string Exchange(ChaosOptions options) => $"chaos.orders.{options.RunId}";

    public static string Queue(ChaosOptions options) => $"chaos.payments.{options.RunId}";

    /// <summary>Kafka: the topic is named like the exchange (the destination); the consumer group is per run.</summary>
    public static void Configure(KafkaOptions kafka, ChaosOptions options)
    {
        kafka.BootstrapServers = options.Kafka!;
        kafka.ClientId = $"chaos-{options.Role}-{options.Index}";
        kafka.Properties["reconnect.backoff.max.ms"] = "1000";
    }

    public static string Group(ChaosOptions options) => $"chaos.payments.{options.RunId}";

    public static void Configure(RabbitMqOptions rabbit, ChaosOptions options)
    {
        rabbit.Uri = new Uri(options.Amqp!);
        rabbit.ClientName = $"chaos-{options.Role}-{options.Index}";
        rabbit.AddExchange(Exchange(options));
        rabbit.AddQueue(Queue(options), Exchange(options), "#");
    }

    /// <summary>For ActiveMQ, the producer's destination is the payment service's queue (<c>/queue/chaos.orders.{run}</c>).</summary>
    public static void Configure(ActiveMqOptions activeMq, ChaosOptions options)
    {
        activeMq.Uri = new Uri(options.Stomp!);
        activeMq.ReconnectInterval = TimeSpan.FromMilliseconds(500);
    }
}
