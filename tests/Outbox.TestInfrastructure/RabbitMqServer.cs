using Testcontainers.RabbitMq;

namespace Outbox.TestInfrastructure;

/// <summary>
/// The RabbitMQ broker shared by all tests of a process. <see cref="AcquireAsync"/> looks, in this order, for
/// the broker named by <c>OUTBOX_TEST_RABBITMQ</c>, then a Testcontainers container when a Docker engine answers,
/// then the locally installed <c>rabbitmq-server</c> on 127.0.0.1:5672 (used if running, started if not).
/// Tests isolate themselves with unique exchange and queue names.
/// </summary>
public sealed class RabbitMqServer
{
    /// <summary>An <c>amqp://</c> URI of a broker the tests may use.</summary>
    public const string EnvironmentVariable = "OUTBOX_TEST_RABBITMQ";

    private const string Image = "rabbitmq:3.13-alpine";

    private static readonly SharedServer<RabbitMqServer> Shared = new(FindAsync);

    private RabbitMqServer(Uri amqpUri, string source)
    {
        AmqpUri = amqpUri;
        Source = source;
    }

    /// <summary>The broker's URI, with credentials.</summary>
    public Uri AmqpUri { get; }

    /// <summary>Where the broker came from: <c>environment</c>, <c>testcontainers</c> or <c>local</c>.</summary>
    public string Source { get; }

    /// <summary>Whether <see cref="RestartAsync"/> is supported: only for the local broker, with rabbitmqctl.</summary>
    public bool CanRestart => Source == "local" && LocalRabbitMqBroker.Rabbitmqctl is not null;

    /// <summary>Returns the process-wide broker, finding or starting it on the first call.</summary>
    /// <exception cref="ServerUnavailableException">No broker could be found or started; the message says why.</exception>
    public static Task<RabbitMqServer> AcquireAsync(CancellationToken cancellationToken = default) =>
        Shared.AcquireAsync(cancellationToken);

    /// <summary>
    /// Restarts the local broker (<c>rabbitmqctl stop_app</c>, <c>start_app</c>): every connection is closed,
    /// durable queues and persistent messages survive. Returns once it accepts connections again.
    /// </summary>
    /// <exception cref="NotSupportedException">The broker is not the local one (<see cref="CanRestart"/> is false).</exception>
    public Task RestartAsync(CancellationToken cancellationToken = default) =>
        CanRestart
            ? LocalRabbitMqBroker.RestartAsync(cancellationToken)
            : throw new NotSupportedException($"The {Source} RabbitMQ broker cannot be restarted by the tests.");

    private static async Task<RabbitMqServer> FindAsync(CancellationToken cancellationToken)
    {
        var attempts = new List<string>();

        var fromEnvironment = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(fromEnvironment))
        {
            // Whoever set the variable meant this broker: say why it fails rather than quietly use another.
            try
            {
                var uri = new Uri(fromEnvironment);
                await LocalRabbitMqBroker.ConnectOnceAsync(uri, cancellationToken);
                return new RabbitMqServer(uri, "environment");
            }
            catch (Exception exception) when (exception is not OperationCanceledException)
            {
                throw ServerUnavailableException.From("RabbitMQ", [$"{EnvironmentVariable}: could not connect: {exception.Message}"]);
            }
        }

        attempts.Add($"{EnvironmentVariable}: not set");

        if (await DockerProbe.WhyUnavailableAsync() is { } noDocker)
        {
            attempts.Add($"Testcontainers: {noDocker}");
        }
        else
        {
            var container = new RabbitMqBuilder(Image).Build();
            try
            {
                await container.StartAsync(cancellationToken);

                // Ryuk removes the container if this process dies; this is the orderly way out.
                TestRunCleanup.Register(() => container.DisposeAsync().AsTask());
                return new RabbitMqServer(new Uri(container.GetConnectionString()), "testcontainers");
            }
            catch (Exception exception) when (exception is not OperationCanceledException)
            {
                await container.DisposeAsync();
                attempts.Add($"Testcontainers ({Image}): {exception.Message}");
            }
        }

        try
        {
            await LocalRabbitMqBroker.AcquireAsync(cancellationToken);
            return new RabbitMqServer(LocalRabbitMqBroker.Uri, "local");
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            attempts.Add($"local broker: {exception.Message}");
        }

        throw ServerUnavailableException.From("RabbitMQ", attempts);
    }
}
