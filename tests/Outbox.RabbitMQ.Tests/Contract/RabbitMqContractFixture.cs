using Microsoft.Extensions.DependencyInjection;
using Outbox.RabbitMQ.Tests.Infrastructure;
using Outbox.TestInfrastructure;
using Outbox.TestInfrastructure.TransportContract;
using RabbitMQ.Client;

namespace Outbox.RabbitMQ.Tests.Contract;

/// <summary>
/// The transport contract suite's view of RabbitMQ: per test an exchange and a queue of its own on the shared broker,
/// reached by the transport and the consumer through a <see cref="TcpProxy"/> that the reconnect contract cuts.
/// </summary>
public sealed class RabbitMqContractFixture : ITransportContractFixture
{
    private RabbitMqServer? _broker;

    public async Task<PostgresServer> AcquireServersAsync(CancellationToken cancellationToken)
    {
        _broker = await RabbitMqServer.AcquireAsync(cancellationToken);
        return await PostgresServer.AcquireAsync(cancellationToken);
    }

    public Task<ITransportBinding> CreateBindingAsync(CancellationToken cancellationToken) =>
        Task.FromResult<ITransportBinding>(new Binding(_broker ?? throw new InvalidOperationException("Servers not acquired.")));

    private sealed class Binding : ITransportBinding
    {
        private readonly RabbitMqServer _broker;
        private readonly TcpProxy _proxy;
        private readonly Uri _proxied;
        private readonly string _queue;

        public Binding(RabbitMqServer broker)
        {
            _broker = broker;
            var suffix = Guid.NewGuid().ToString("N")[..10];
            Destination = $"test.{suffix}.contract";
            _queue = $"test.{suffix}.contract-consumer";
            _proxy = new TcpProxy(broker.AmqpUri.Host, broker.AmqpUri.IsDefaultPort ? 5672 : broker.AmqpUri.Port);
            _proxied = new UriBuilder(broker.AmqpUri) { Host = "127.0.0.1", Port = _proxy.Port }.Uri;
        }

        public string Destination { get; }

        public void UseTransport(OutboxBuilder outbox) => outbox.UseRabbitMq(o =>
        {
            o.Uri = _proxied;
            o.ReconnectInterval = TimeSpan.FromMilliseconds(250);
            o.AddExchange(Destination).AddQueue(_queue, Destination);
        });

        public void UseConsumer(OutboxConsumerBuilder consumer, ContractConsumerSettings settings) => consumer.UseRabbitMq(_queue, o =>
        {
            o.ConcurrentMessages = settings.ConcurrentMessages;
            o.PrefetchCount = settings.Prefetch;
            o.ShutdownTimeout = settings.ShutdownTimeout;
        });

        public async Task WaitUntilConsumingAsync(IServiceProvider services, string consumer, CancellationToken cancellationToken)
        {
            var hosted = services.GetConsumer<RabbitMqInboxConsumer>(consumer);
            while (hosted.CurrentChannel is null)
            {
                await Task.Delay(20, cancellationToken);
            }
        }

        public async Task SendRawAsync(RawMessage message, CancellationToken cancellationToken)
        {
            await using var connection = await new ConnectionFactory { Uri = _broker.AmqpUri, ClientProvidedName = "outbox-contract-raw" }.CreateConnectionAsync(cancellationToken);
            await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true), cancellationToken);
            var headers = new Dictionary<string, object?>();
            if (message.MessageId is not null)
            {
                headers[OutboxHeaders.MessageId] = message.MessageId;
            }

            if (message.MessageType is not null)
            {
                headers[OutboxHeaders.MessageType] = message.MessageType;
            }

            if (message.PartitionKey is not null)
            {
                headers[OutboxHeaders.PartitionKey] = message.PartitionKey;
            }

            var properties = new BasicProperties { Persistent = true, ContentType = message.ContentType, Headers = headers };
            await channel.BasicPublishAsync(Destination, message.MessageType ?? "raw", mandatory: true, properties, message.Payload, cancellationToken);
        }

        public Task SeverConnectionsAsync(CancellationToken cancellationToken)
        {
            _proxy.SeverAll();
            return Task.CompletedTask;
        }

        public async ValueTask DisposeAsync()
        {
            await _proxy.DisposeAsync();
            try
            {
                await using var connection = await new ConnectionFactory { Uri = _broker.AmqpUri }.CreateConnectionAsync(CancellationToken.None);
                await using var channel = await connection.CreateChannelAsync();
                await channel.QueueDeleteAsync(_queue, ifUnused: false, ifEmpty: false);
                await channel.ExchangeDeleteAsync(Destination, ifUnused: false);
            }
            catch (Exception)
            {
                // The broker may be gone; the names are unique anyway.
            }
        }
    }
}

[Collection(BrokerCollection.Name)]
public sealed class RabbitMqSendConfirmedTests(RabbitMqContractFixture fixture) : SendConfirmedContract<RabbitMqContractFixture>(fixture);

[Collection(BrokerCollection.Name)]
public sealed class RabbitMqPerKeyOrderTests(RabbitMqContractFixture fixture) : PerKeyOrderContract<RabbitMqContractFixture>(fixture);

[Collection(BrokerCollection.Name)]
public sealed class RabbitMqExactlyOnceTests(RabbitMqContractFixture fixture) : ExactlyOnceContract<RabbitMqContractFixture>(fixture);

[Collection(BrokerCollection.Name)]
public sealed class RabbitMqPoisonTests(RabbitMqContractFixture fixture) : PoisonContract<RabbitMqContractFixture>(fixture);

[Collection(BrokerCollection.Name)]
public sealed class RabbitMqShutdownTests(RabbitMqContractFixture fixture) : ShutdownContract<RabbitMqContractFixture>(fixture);

[Collection(BrokerCollection.Name)]
public sealed class RabbitMqReconnectTests(RabbitMqContractFixture fixture) : ReconnectContract<RabbitMqContractFixture>(fixture);
