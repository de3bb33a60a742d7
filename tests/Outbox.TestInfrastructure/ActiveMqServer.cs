using DotNet.Testcontainers.Builders;

namespace Outbox.TestInfrastructure;

/// <summary>
/// The ActiveMQ broker (STOMP) shared by all tests of a process. <see cref="AcquireAsync"/> looks, in this order, for
/// the broker named by <c>OUTBOX_TEST_ACTIVEMQ</c> (a <c>stomp://host:port</c> address), then a Testcontainers container
/// (<c>apache/activemq-classic</c>) when a Docker engine answers, then starts a throwaway <see cref="LocalActiveMqBroker"/>
/// from the Debian install. Tests isolate themselves with unique destination names.
/// </summary>
public sealed class ActiveMqServer
{
    /// <summary>A <c>stomp://</c> address of a broker the tests may use.</summary>
    public const string EnvironmentVariable = "OUTBOX_TEST_ACTIVEMQ";

    private const string Image = "apache/activemq-classic:5.18.6";

    private static readonly SharedServer<ActiveMqServer> Shared = new(FindAsync);

    private ActiveMqServer(Uri stompUri, string source, LocalActiveMqBroker? local)
    {
        StompUri = stompUri;
        Source = source;
        Local = local;
    }

    /// <summary>The broker's STOMP address (credentials, if any, in the user info).</summary>
    public Uri StompUri { get; }

    /// <summary>Where the broker came from: <c>environment</c>, <c>testcontainers</c> or <c>local</c>.</summary>
    public string Source { get; }

    /// <summary>The local broker, which tests may stop and start; null for the others.</summary>
    public LocalActiveMqBroker? Local { get; }

    /// <summary>Returns the process-wide broker, finding or starting it on the first call.</summary>
    /// <exception cref="ServerUnavailableException">No broker could be found or started; the message says why.</exception>
    public static Task<ActiveMqServer> AcquireAsync(CancellationToken cancellationToken = default) =>
        Shared.AcquireAsync(cancellationToken);

    private static async Task<ActiveMqServer> FindAsync(CancellationToken cancellationToken)
    {
        var attempts = new List<string>();
        var fromEnvironment = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(fromEnvironment))
        {
            // Whoever set the variable meant this broker: say why it fails rather than quietly use another.
            if (!Uri.TryCreate(fromEnvironment, UriKind.Absolute, out var uri) || uri.Scheme is not ("stomp" or "stomp+ssl"))
            {
                throw ServerUnavailableException.From("ActiveMQ", [$"{EnvironmentVariable}: '{fromEnvironment}' is not a stomp:// address"]);
            }

            if (uri.Scheme == "stomp" && !await LocalActiveMqBroker.TryStompConnectAsync(uri.Port, cancellationToken, uri.Host))
            {
                throw ServerUnavailableException.From("ActiveMQ", [$"{EnvironmentVariable}: no STOMP broker answered at {uri}"]);
            }

            return new ActiveMqServer(uri, "environment", null);
        }

        attempts.Add($"{EnvironmentVariable}: not set");
        if (await DockerProbe.WhyUnavailableAsync() is { } noDocker)
        {
            attempts.Add($"Testcontainers: {noDocker}");
        }
        else
        {
            var container = new ContainerBuilder(Image)
                .WithPortBinding(61613, assignRandomHostPort: true)
                .WithWaitStrategy(Wait.ForUnixContainer().UntilInternalTcpPortIsAvailable(61613))
                .Build();
            try
            {
                await container.StartAsync(cancellationToken);
                TestRunCleanup.Register(() => container.DisposeAsync().AsTask());
                return new ActiveMqServer(new Uri($"stomp://admin:admin@{container.Hostname}:{container.GetMappedPublicPort(61613)}"), "testcontainers", null);
            }
            catch (Exception exception) when (exception is not OperationCanceledException)
            {
                await container.DisposeAsync();
                attempts.Add($"Testcontainers ({Image}): {exception.Message}");
            }
        }

        try
        {
            var local = await LocalActiveMqBroker.CreateAsync(cancellationToken);
            return new ActiveMqServer(local.StompUri, "local", local);
        }
        catch (ServerUnavailableException exception)
        {
            attempts.Add($"local broker: {exception.Message}");
        }

        throw ServerUnavailableException.From("ActiveMQ", attempts);
    }
}
