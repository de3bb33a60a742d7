using System.Text;
using Confluent.Kafka;
using Microsoft.Extensions.DependencyInjection;
using Outbox.TestInfrastructure;
using Outbox.TestInfrastructure.TransportContract;

namespace Outbox.Kafka.Tests.Contract;

/// <summary>
/// The transport contract suite's view of Kafka: per test a topic of <see cref="Partitions"/> partitions and a consumer
/// group of its own on the shared cluster (a real one from OUTBOX_TEST_KAFKA or Testcontainers, else librdkafka's mock
/// cluster in a helper process). Connections are cut by taking the mock cluster's brokers down and up.
/// </summary>
public sealed class KafkaContractFixture : ITransportContractFixture
{
    public const int Partitions = 6;

    public KafkaServer? Kafka { get; private set; }

    public async Task<PostgresServer> AcquireServersAsync(CancellationToken cancellationToken)
    {
        Kafka = await KafkaServer.AcquireAsync(cancellationToken);
        return await PostgresServer.AcquireAsync(cancellationToken);
    }

    public async Task<ITransportBinding> CreateBindingAsync(CancellationToken cancellationToken)
    {
        var kafka = Kafka ?? throw new InvalidOperationException("Servers not acquired.");
        var binding = new Binding(kafka);
        await kafka.CreateTopicAsync(binding.Destination, Partitions, cancellationToken);
        return binding;
    }

    public sealed class Binding(KafkaServer kafka) : ITransportBinding
    {
        private readonly string _suffix = Guid.NewGuid().ToString("N")[..10];

        public string Destination => $"test.{_suffix}.contract";

        public string Group => $"test.{_suffix}.group";

        public void UseTransport(OutboxBuilder outbox) => outbox.UseKafka(o =>
        {
            o.BootstrapServers = kafka.BootstrapServers;
            o.Properties["reconnect.backoff.max.ms"] = "500";
        });

        public void UseConsumer(OutboxConsumerBuilder consumer, ContractConsumerSettings settings) => consumer.UseKafka(Destination, o =>
        {
            o.GroupId = Group;
            o.ConcurrentPartitions = settings.ConcurrentMessages;
            o.MaxBufferedPerPartition = Math.Max(1, settings.Prefetch);
            o.ShutdownTimeout = settings.ShutdownTimeout;
            o.CommitInterval = TimeSpan.FromMilliseconds(200);
            o.SessionTimeout = TimeSpan.FromSeconds(10);
        });

        public async Task WaitUntilConsumingAsync(IServiceProvider services, string consumer, CancellationToken cancellationToken)
        {
            var hosted = services.GetConsumer<KafkaInboxConsumer>(consumer);
            while (hosted.AssignedPartitions == 0)
            {
                await Task.Delay(20, cancellationToken);
            }
        }

        public async Task SendRawAsync(RawMessage message, CancellationToken cancellationToken)
        {
            using var producer = new ProducerBuilder<byte[]?, byte[]>(new ProducerConfig { BootstrapServers = kafka.BootstrapServers, EnableIdempotence = true }).Build();
            var headers = new Headers { { "content-type", Encoding.UTF8.GetBytes(message.ContentType) } };
            if (message.MessageId is not null)
            {
                headers.Add(OutboxHeaders.MessageId, Encoding.UTF8.GetBytes(message.MessageId));
            }

            if (message.MessageType is not null)
            {
                headers.Add(OutboxHeaders.MessageType, Encoding.UTF8.GetBytes(message.MessageType));
            }

            if (message.PartitionKey is not null)
            {
                headers.Add(OutboxHeaders.PartitionKey, Encoding.UTF8.GetBytes(message.PartitionKey));
            }

            await producer.ProduceAsync(
                Destination,
                new Message<byte[]?, byte[]> { Key = message.PartitionKey is null ? null : Encoding.UTF8.GetBytes(message.PartitionKey), Value = message.Payload, Headers = headers },
                cancellationToken);
        }

        public Task SeverConnectionsAsync(CancellationToken cancellationToken) => kafka.SeverAsync(TimeSpan.FromSeconds(1), cancellationToken);

        public ValueTask DisposeAsync() => ValueTask.CompletedTask; // topic names are unique; the mock cluster goes with the run
    }
}

/// <summary>Every test of this project shares one cluster; they run one at a time (the reconnect test cuts it off).</summary>
[CollectionDefinition(Name)]
public sealed class KafkaCollection : ICollectionFixture<KafkaContractFixture>
{
    public const string Name = "Kafka cluster";
}

[Collection(KafkaCollection.Name)]
public sealed class KafkaSendConfirmedTests(KafkaContractFixture fixture) : SendConfirmedContract<KafkaContractFixture>(fixture);

[Collection(KafkaCollection.Name)]
public sealed class KafkaPerKeyOrderTests(KafkaContractFixture fixture) : PerKeyOrderContract<KafkaContractFixture>(fixture);

[Collection(KafkaCollection.Name)]
public sealed class KafkaExactlyOnceTests(KafkaContractFixture fixture) : ExactlyOnceContract<KafkaContractFixture>(fixture);

[Collection(KafkaCollection.Name)]
public sealed class KafkaPoisonTests(KafkaContractFixture fixture) : PoisonContract<KafkaContractFixture>(fixture);

[Collection(KafkaCollection.Name)]
public sealed class KafkaShutdownTests(KafkaContractFixture fixture) : ShutdownContract<KafkaContractFixture>(fixture);

[Collection(KafkaCollection.Name)]
public sealed class KafkaReconnectTests(KafkaContractFixture fixture) : ReconnectContract<KafkaContractFixture>(fixture);
