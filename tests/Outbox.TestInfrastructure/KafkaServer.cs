using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Testcontainers.Kafka;

namespace Outbox.TestInfrastructure;

/// <summary>
/// The Kafka cluster shared by all tests of a process. <see cref="AcquireAsync"/> looks, in this order, for the
/// bootstrap servers named by <c>OUTBOX_TEST_KAFKA</c>, then a Testcontainers container when a Docker engine answers,
/// then librdkafka's mock cluster in a helper process (<see cref="LocalKafkaMockCluster"/>). Tests isolate themselves
/// with unique topic and group names, and create their topics with <see cref="CreateTopicAsync"/>.
/// </summary>
public sealed class KafkaServer
{
    /// <summary>Bootstrap servers (<c>host:port,...</c>) of a cluster the tests may use.</summary>
    public const string EnvironmentVariable = "OUTBOX_TEST_KAFKA";

    private const string Image = "confluentinc/cp-kafka:7.6.1";

    private static readonly SharedServer<KafkaServer> Shared = new(FindAsync);

    private KafkaServer(string bootstrapServers, string source, LocalKafkaMockCluster? mock)
    {
        BootstrapServers = bootstrapServers;
        Source = source;
        Mock = mock;
    }

    /// <summary>The cluster's bootstrap servers.</summary>
    public string BootstrapServers { get; }

    /// <summary>Where the cluster came from: <c>environment</c>, <c>testcontainers</c> or <c>mock</c>.</summary>
    public string Source { get; }

    /// <summary>Whether the cluster is librdkafka's mock cluster (see docs/kafka.md for what it does not model).</summary>
    public bool IsMock => Mock is not null;

    internal LocalKafkaMockCluster? Mock { get; }

    /// <summary>Returns the process-wide cluster, finding or starting it on the first call.</summary>
    /// <exception cref="ServerUnavailableException">No cluster could be found or started; the message says why.</exception>
    public static Task<KafkaServer> AcquireAsync(CancellationToken cancellationToken = default) =>
        Shared.AcquireAsync(cancellationToken);

    /// <summary>Creates a topic with <paramref name="partitions"/> partitions (nothing happens if it exists).</summary>
    public async Task CreateTopicAsync(string topic, int partitions, CancellationToken cancellationToken = default)
    {
        if (Mock is { } mock)
        {
            await mock.CreateTopicAsync(topic, partitions, cancellationToken);
            return;
        }

        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = BootstrapServers }).Build();
        try
        {
            await admin.CreateTopicsAsync([new TopicSpecification { Name = topic, NumPartitions = partitions, ReplicationFactor = -1 }]);
        }
        catch (CreateTopicsException ex) when (ex.Results.All(r => r.Error.Code is ErrorCode.NoError or ErrorCode.TopicAlreadyExists))
        {
            // It exists already.
        }
    }

    /// <summary>
    /// Cuts every client connection to the cluster for <paramref name="downtime"/> (only the mock cluster can: its
    /// brokers are taken down and up again).
    /// </summary>
    /// <exception cref="NotSupportedException">The cluster is not the mock cluster.</exception>
    public Task SeverAsync(TimeSpan downtime, CancellationToken cancellationToken = default) =>
        Mock is { } mock ? mock.SeverAsync(downtime, cancellationToken) : throw new NotSupportedException($"The {Source} Kafka cluster cannot be cut off by the tests.");

    private static async Task<KafkaServer> FindAsync(CancellationToken cancellationToken)
    {
        var attempts = new List<string>();

        var fromEnvironment = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(fromEnvironment))
        {
            // Whoever set the variable meant this cluster: say why it fails rather than quietly use another.
            try
            {
                ProbeMetadata(fromEnvironment);
                return new KafkaServer(fromEnvironment, "environment", null);
            }
            catch (Exception exception) when (exception is not OperationCanceledException)
            {
                throw ServerUnavailableException.From("Kafka", [$"{EnvironmentVariable}: could not reach {fromEnvironment}: {exception.Message}"]);
            }
        }

        attempts.Add($"{EnvironmentVariable}: not set");

        if (await DockerProbe.WhyUnavailableAsync() is { } noDocker)
        {
            attempts.Add($"Testcontainers: {noDocker}");
        }
        else
        {
            var container = new KafkaBuilder(Image).Build();
            try
            {
                await container.StartAsync(cancellationToken);
                TestRunCleanup.Register(() => container.DisposeAsync().AsTask());
                return new KafkaServer(container.GetBootstrapAddress(), "testcontainers", null);
            }
            catch (Exception exception) when (exception is not OperationCanceledException)
            {
                await container.DisposeAsync();
                attempts.Add($"Testcontainers ({Image}): {exception.Message}");
            }
        }

        try
        {
            var mock = await LocalKafkaMockCluster.StartAsync(brokers: 3, cancellationToken);
            return new KafkaServer(mock.BootstrapServers, "mock", mock);
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            attempts.Add($"librdkafka mock cluster: {exception.Message}");
        }

        throw ServerUnavailableException.From("Kafka", attempts);
    }

    private static void ProbeMetadata(string bootstrapServers)
    {
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = bootstrapServers, SocketTimeoutMs = 10_000 }).Build();
        _ = admin.GetMetadata(TimeSpan.FromSeconds(15));
    }
}
