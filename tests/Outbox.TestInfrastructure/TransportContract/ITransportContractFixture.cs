using Microsoft.Extensions.DependencyInjection;

namespace Outbox.TestInfrastructure.TransportContract;

/// <summary>
/// What a transport provides to the transport contract suite (the abstract <c>*Contract&lt;TFixture&gt;</c> classes of
/// this folder). A transport test project implements it once, registers it as the xunit (collection) fixture of its
/// contract classes, and inherits each contract class once: <c>public sealed class RabbitMqPoisonTests(RabbitMqContractFixture f)
/// : PoisonContract&lt;RabbitMqContractFixture&gt;(f);</c>. The suite owns the rest: the producer and consumer databases
/// (real PostgreSQL), the model, the handler, the hosts and the assertions.
/// </summary>
public interface ITransportContractFixture
{
    /// <summary>
    /// Finds (or starts) the servers the transport needs and returns the PostgreSQL server the suite makes its databases
    /// on. Throw <see cref="ServerUnavailableException"/> when one is missing: the suite skips the test with the reason,
    /// or fails it when <see cref="ServerRequirement.Required"/>.
    /// </summary>
    Task<PostgresServer> AcquireServersAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Makes what one test needs on the broker (a destination and the consumer's source, with names unique to the test)
    /// and returns how to wire it. Disposed at the end of the test; it should remove what it made.
    /// </summary>
    Task<ITransportBinding> CreateBindingAsync(CancellationToken cancellationToken);
}

/// <summary>One test's view of the transport: a destination, how to send to it and how to consume from it.</summary>
public interface ITransportBinding : IAsyncDisposable
{
    /// <summary>The destination (<see cref="PublishOptions.Destination"/>) the suite publishes to; the consumer receives what is sent there.</summary>
    string Destination { get; }

    /// <summary>
    /// Chooses this transport for the outbox, configured for <see cref="Destination"/>, with a short reconnect interval
    /// (a test must not wait long after <see cref="SeverConnectionsAsync"/>), and through the path
    /// <see cref="SeverConnectionsAsync"/> cuts.
    /// </summary>
    void UseTransport(OutboxBuilder outbox);

    /// <summary>
    /// Feeds the consumer from what is sent to <see cref="Destination"/>, with <paramref name="settings"/>, through the
    /// path <see cref="SeverConnectionsAsync"/> cuts.
    /// </summary>
    void UseConsumer(OutboxConsumerBuilder consumer, ContractConsumerSettings settings);

    /// <summary>
    /// Returns once the consumer registered by <see cref="UseConsumer"/> in the started host <paramref name="services"/>
    /// receives (a message sent from now on reaches it; for a topic, its subscription exists).
    /// </summary>
    Task WaitUntilConsumingAsync(IServiceProvider services, string consumer, CancellationToken cancellationToken);

    /// <summary>
    /// Sends a message straight to <see cref="Destination"/> with a plain client, bypassing the transport, as another
    /// (maybe broken) producer would: for poison messages. Null fields are left out of the message.
    /// </summary>
    Task SendRawAsync(RawMessage message, CancellationToken cancellationToken);

    /// <summary>
    /// Cuts every connection the transport and the consumer have open to the broker, as a network failure would (the
    /// broker stays up, nothing stored is lost); they must reconnect by themselves.
    /// </summary>
    Task SeverConnectionsAsync(CancellationToken cancellationToken);
}

/// <summary>The consumer settings a contract test asks for; a transport maps them to its own consumer options.</summary>
public sealed record ContractConsumerSettings
{
    /// <summary>Messages processed at the same time (lanes by partition key). Default 1.</summary>
    public int ConcurrentMessages { get; init; } = 1;

    /// <summary>Messages the broker may send ahead unacknowledged. Default 32.</summary>
    public int Prefetch { get; init; } = 32;

    /// <summary>How long in-flight messages may finish on shutdown. Default 2 s.</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(2);
}

/// <summary>A message sent by <see cref="ITransportBinding.SendRawAsync"/>, in the library's header names (<see cref="OutboxHeaders"/>).</summary>
public sealed record RawMessage
{
    /// <summary>The message id; null sends none.</summary>
    public string? MessageId { get; init; }

    /// <summary>The message type; null sends none.</summary>
    public string? MessageType { get; init; }

    /// <summary>The partition key; null sends none.</summary>
    public string? PartitionKey { get; init; }

    /// <summary>The body.</summary>
    public required byte[] Payload { get; init; }

    /// <summary>The content type.</summary>
    public string ContentType { get; init; } = "application/json";
}

/// <summary>Service lookups the bindings share.</summary>
public static class TransportBindingServices
{
    /// <summary>The keyed hosted consumer of type <typeparamref name="T"/> registered for <paramref name="consumer"/>.</summary>
    public static T GetConsumer<T>(this IServiceProvider services, string consumer)
        where T : notnull => services.GetRequiredKeyedService<T>(consumer);
}
