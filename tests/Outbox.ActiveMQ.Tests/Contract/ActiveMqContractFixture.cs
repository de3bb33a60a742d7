using Microsoft.Extensions.DependencyInjection;
using Outbox.ActiveMQ.Stomp;
using Outbox.TestInfrastructure;
using Outbox.TestInfrastructure.TransportContract;

namespace Outbox.ActiveMQ.Tests.Contract;

/// <summary>
/// The transport contract suite's view of ActiveMQ: per test a queue of its own on the shared broker, reached by the
/// transport and the consumer through a <see cref="TcpProxy"/> that the reconnect contract cuts.
/// </summary>
public sealed class ActiveMqContractFixture : ITransportContractFixture
{
    private ActiveMqServer? _broker;

    public async Task<PostgresServer> AcquireServersAsync(CancellationToken cancellationToken)
    {
        _broker = await ActiveMqServer.AcquireAsync(cancellationToken);
        return await PostgresServer.AcquireAsync(cancellationToken);
    }

    public Task<ITransportBinding> CreateBindingAsync(CancellationToken cancellationToken) =>
        Task.FromResult<ITransportBinding>(new Binding(_broker ?? throw new InvalidOperationException("Servers not acquired.")));

    private sealed class Binding : ITransportBinding
    {
        private readonly ActiveMqServer _broker;
        private readonly TcpProxy _proxy;
        private readonly Uri _proxied;

        public Binding(ActiveMqServer broker)
        {
            _broker = broker;
            Destination = $"/queue/test.{Guid.NewGuid().ToString("N")[..10]}.contract";
            _proxy = new TcpProxy(broker.StompUri.Host, broker.StompUri.Port);
            _proxied = new UriBuilder(broker.StompUri) { Host = "127.0.0.1", Port = _proxy.Port }.Uri;
        }

        public string Destination { get; }

        public void UseTransport(OutboxBuilder outbox) => outbox.UseActiveMq(o =>
        {
            o.Uri = _proxied;
            o.ReconnectInterval = TimeSpan.FromMilliseconds(250);
        });

        public void UseConsumer(OutboxConsumerBuilder consumer, ContractConsumerSettings settings) => consumer.UseActiveMq(Destination, o =>
        {
            o.ConcurrentMessages = settings.ConcurrentMessages;
            o.PrefetchSize = settings.Prefetch;
            o.ShutdownTimeout = settings.ShutdownTimeout;
        });

        public async Task WaitUntilConsumingAsync(IServiceProvider services, string consumer, CancellationToken cancellationToken)
        {
            var hosted = services.GetConsumer<ActiveMqInboxConsumer>(consumer);
            while (hosted.CurrentConnection is null)
            {
                await Task.Delay(20, cancellationToken);
            }
        }

        public async Task SendRawAsync(RawMessage message, CancellationToken cancellationToken)
        {
            await using var connection = await StompTestClient.ConnectAsync(_broker.StompUri, cancellationToken);
            var headers = new List<KeyValuePair<string, string>> { new("destination", Destination), new("persistent", "true"), new("content-type", message.ContentType) };
            if (message.MessageId is not null)
            {
                headers.Add(new(OutboxHeaders.MessageId, message.MessageId));
            }

            if (message.MessageType is not null)
            {
                headers.Add(new(OutboxHeaders.MessageType, message.MessageType));
            }

            if (message.PartitionKey is not null)
            {
                headers.Add(new(OutboxHeaders.PartitionKey, message.PartitionKey));
            }

            await connection.RequestAsync(StompCommands.Send, headers, message.Payload, TimeSpan.FromSeconds(30), cancellationToken);
        }

        public Task SeverConnectionsAsync(CancellationToken cancellationToken)
        {
            _proxy.SeverAll();
            return Task.CompletedTask;
        }

        public ValueTask DisposeAsync() => _proxy.DisposeAsync(); // the broker is throwaway and the queue name unique
    }
}

/// <summary>Plain STOMP connections for tests, with the library's own connection class.</summary>
internal static class StompTestClient
{
    public static Task<StompConnection> ConnectAsync(Uri uri, CancellationToken cancellationToken, Action<StompFrame>? onMessage = null) =>
        StompConnection.OpenAsync(
            new StompConnectionSettings { Host = uri.Host, Port = uri.Port, VirtualHost = "localhost", HeartBeat = TimeSpan.Zero },
            TimeProvider.System,
            onMessage,
            cancellationToken);
}

/// <summary>
/// Every broker test of this project runs in this one collection, one at a time: some stop and start the broker.
/// </summary>
[CollectionDefinition(Name)]
public sealed class ActiveMqCollection : ICollectionFixture<ActiveMqContractFixture>
{
    public const string Name = "ActiveMQ broker";
}

[Collection(ActiveMqCollection.Name)]
public sealed class ActiveMqSendConfirmedTests(ActiveMqContractFixture fixture) : SendConfirmedContract<ActiveMqContractFixture>(fixture);

[Collection(ActiveMqCollection.Name)]
public sealed class ActiveMqPerKeyOrderTests(ActiveMqContractFixture fixture) : PerKeyOrderContract<ActiveMqContractFixture>(fixture);

[Collection(ActiveMqCollection.Name)]
public sealed class ActiveMqExactlyOnceTests(ActiveMqContractFixture fixture) : ExactlyOnceContract<ActiveMqContractFixture>(fixture);

[Collection(ActiveMqCollection.Name)]
public sealed class ActiveMqPoisonTests(ActiveMqContractFixture fixture) : PoisonContract<ActiveMqContractFixture>(fixture);

[Collection(ActiveMqCollection.Name)]
public sealed class ActiveMqShutdownTests(ActiveMqContractFixture fixture) : ShutdownContract<ActiveMqContractFixture>(fixture);

[Collection(ActiveMqCollection.Name)]
public sealed class ActiveMqReconnectTests(ActiveMqContractFixture fixture) : ReconnectContract<ActiveMqContractFixture>(fixture);
