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

/// <summary>The payment service: consumes OrderPlaced through its inbox and writes one payment per order.</summary>
public static class ConsumerRole
{
    public static async Task<int> RunAsync(ChaosOptions options, CancellationToken cancellationToken)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddDbContext<PaymentsDb>(o => o.UseNpgsql(options.PaymentsConnection));
        if (options.Transport == "rabbitmq")
        {
            builder.Services.Configure<RabbitMqOptions>(o => ChaosTopology.Configure(o, options));
        }

        builder.Services.Configure<KafkaOptions>(o => ChaosTopology.Configure(o, options));
        var consumer = builder.Services.AddOutboxConsumer<PaymentsDb>("payments")
            .AddHandler<OrderPlaced, PaymentHandler>()
            .Configure(o =>
            {
                o.MaxAttempts = 3;
                o.RetryBaseDelay = TimeSpan.FromMilliseconds(10);
                o.RetryMaxDelay = TimeSpan.FromMilliseconds(50);
                o.RequeueDelay = TimeSpan.FromSeconds(1);
                o.MaxBatchSize = options.InboxBatch;
            });
        if (options.Transport == "activemq")
        {
            builder.Services.Configure<ActiveMqOptions>(o => ChaosTopology.Configure(o, options));
            consumer.UseActiveMq(ChaosTopology.Exchange(options), o =>
            {
                o.PrefetchSize = 200;
                o.ConcurrentMessages = 8;
            });
        }
        else if (options.IsKafka)
        {
            consumer.UseKafka(ChaosTopology.Exchange(options), o =>
            {
                o.GroupId = ChaosTopology.Group(options);
                o.ConcurrentPartitions = 8; // a lane per partition: partitions in parallel, each (and so each customer) in order
                o.MaxBufferedPerPartition = 200;
                o.CommitInterval = TimeSpan.FromMilliseconds(500);
                o.SessionTimeout = TimeSpan.FromSeconds(6); // a killed consumer's partitions are given to its successor soon
            });
        }
        else
        {
            consumer.UseRabbitMq(ChaosTopology.Queue(options), o =>
            {
                o.PrefetchCount = 200;
                o.ConcurrentMessages = 8; // lanes by customer: customers in parallel, each in order
            });
        }

        using var host = builder.Build();
        await host.RunAsync(cancellationToken);
        return 0;
    }

    private sealed class PaymentHandler(PaymentsDb db) : IMessageHandler<OrderPlaced>
    {
        public Task HandleAsync(OrderPlaced message, MessageContext context, CancellationToken cancellationToken)
        {
            if (message.Poison)
            {
                throw new InvalidOperationException($"chaos: order {message.OrderId} is poison");
            }

            db.Payments.Add(new Payment { OrderId = message.OrderId, Customer = message.Customer, Sequence = context.SequenceNumber ?? 0 });
            return Task.CompletedTask;
        }
    }
}
