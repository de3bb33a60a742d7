using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using RabbitMQ.Client;

namespace Outbox.TestInfrastructure;

/// <summary>
/// The locally installed RabbitMQ broker on 127.0.0.1:5672 with the default guest user. A broker that is already
/// running is used as it is and left running. One that is not is started by the tests, shared by every test
/// process that comes along while it runs, and stopped when the last of them exits. The bookkeeping (a marker
/// that the tests started it, one file per process using it) lives in a temp folder, under a file lock.
/// </summary>
internal static class LocalRabbitMqBroker
{
    public static readonly Uri Uri = new("amqp://guest:guest@127.0.0.1:5672/");

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(90);
    private static readonly TimeSpan ToolTimeout = TimeSpan.FromSeconds(60);
    private static readonly string StateDirectory = Path.Combine(Path.GetTempPath(), "outbox-rabbitmq");
    private static readonly string StartedMarker = Path.Combine(StateDirectory, "started-by-tests");
    private static readonly string UsersDirectory = Path.Combine(StateDirectory, "users");

    // Loopback only: AMQP, the Erlang port mapper and inter-node/CLI traffic.
    private static readonly Dictionary<string, string> LoopbackEnvironment = new(StringComparer.Ordinal)
    {
        ["ERL_EPMD_ADDRESS"] = "127.0.0.1",
        ["RABBITMQ_NODE_IP_ADDRESS"] = "127.0.0.1",
        ["RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS"] = "-kernel inet_dist_use_interface {127,0,0,1}",
    };

    /// <summary>The path of <c>rabbitmqctl</c>, or null when it is not installed.</summary>
    public static string? Rabbitmqctl { get; } = FindTool("rabbitmqctl");

    /// <summary>Makes sure the broker runs and accepts connections, starting it when nothing listens.</summary>
    public static async Task AcquireAsync(CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(UsersDirectory);
        using (await LockAsync(cancellationToken))
        {
            if (!await IsListeningAsync(cancellationToken))
            {
                var server = FindTool("rabbitmq-server")
                    ?? throw new ServerUnavailableException(
                        "nothing listens on 127.0.0.1:5672 and rabbitmq-server is not installed: "
                        + "install it (apt-get install rabbitmq-server)");
                (await ProcessRunner.RunAsync(server, ["-detached"], ToolTimeout, cancellationToken, LoopbackEnvironment))
                    .EnsureSuccess();
                await File.WriteAllTextAsync(StartedMarker, string.Empty, cancellationToken);
            }

            await WaitUntilAcceptingAsync(cancellationToken);
            await File.WriteAllTextAsync(UserFile(Environment.ProcessId), string.Empty, cancellationToken);
            TestRunCleanup.Register(ReleaseAsync);
        }
    }

    /// <summary>Stops and starts the RabbitMQ application (the Erlang node stays up), then waits for connections.</summary>
    public static async Task RestartAsync(CancellationToken cancellationToken)
    {
        var rabbitmqctl = Rabbitmqctl ?? throw new NotSupportedException("rabbitmqctl is not installed.");
        (await ProcessRunner.RunAsync(rabbitmqctl, ["stop_app"], ToolTimeout, cancellationToken)).EnsureSuccess();
        (await ProcessRunner.RunAsync(rabbitmqctl, ["start_app"], ToolTimeout, cancellationToken)).EnsureSuccess();
        await WaitUntilAcceptingAsync(cancellationToken);
    }

    /// <summary>At process exit: stops the broker if the tests started it and no other test process uses it.</summary>
    private static async Task ReleaseAsync()
    {
        using (await LockAsync(CancellationToken.None))
        {
            File.Delete(UserFile(Environment.ProcessId));
            var othersUseIt = false;
            foreach (var file in Directory.EnumerateFiles(UsersDirectory))
            {
                // The file of a process that died without this cleanup is dropped here.
                var alive = int.TryParse(Path.GetFileName(file), CultureInfo.InvariantCulture, out var pid) && Directory.Exists($"/proc/{pid}");
                othersUseIt |= alive;
                if (!alive)
                {
                    File.Delete(file);
                }
            }

            if (othersUseIt || !File.Exists(StartedMarker) || Rabbitmqctl is null)
            {
                return;
            }

            // shutdown, unlike stop, waits until the Erlang VM has exited.
            await ProcessRunner.RunAsync(Rabbitmqctl, ["shutdown"], ToolTimeout, CancellationToken.None);
            File.Delete(StartedMarker);
        }
    }

    private static string UserFile(int processId) =>
        Path.Combine(UsersDirectory, processId.ToString(CultureInfo.InvariantCulture));

    /// <summary>An exclusive lock across processes: .NET takes an advisory lock on a file opened without sharing.</summary>
    private static async Task<FileStream> LockAsync(CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                return new FileStream(Path.Combine(StateDirectory, "lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (deadline.Elapsed < StartTimeout + ToolTimeout)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(100), cancellationToken);
            }
        }
    }

    private static async Task<bool> IsListeningAsync(CancellationToken cancellationToken)
    {
        using var client = new TcpClient();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(2));
        try
        {
            await client.ConnectAsync(IPAddress.Loopback, Uri.Port, timeout.Token);
            return true;
        }
        catch (Exception exception) when (exception is SocketException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>Opens and closes one connection to the broker; throws when that fails.</summary>
    public static async Task ConnectOnceAsync(Uri uri, CancellationToken cancellationToken)
    {
        var factory = new ConnectionFactory
        {
            Uri = uri,
            AutomaticRecoveryEnabled = false,
            RequestedConnectionTimeout = TimeSpan.FromSeconds(5),
        };
        await using var connection = await factory.CreateConnectionAsync(cancellationToken);
    }

    private static async Task WaitUntilAcceptingAsync(CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                await ConnectOnceAsync(Uri, cancellationToken);
                return;
            }
            catch (Exception exception) when (!cancellationToken.IsCancellationRequested)
            {
                // A booting broker refuses connections or drops them during the handshake, in several ways.
                if (deadline.Elapsed > StartTimeout)
                {
                    throw new ServerUnavailableException(
                        $"the broker on 127.0.0.1:5672 accepted no connection as guest within {StartTimeout.TotalSeconds:0} s "
                        + $"({exception.Message}); see /var/log/rabbitmq");
                }

                await Task.Delay(TimeSpan.FromMilliseconds(500), cancellationToken);
            }
        }
    }

    private static string? FindTool(string name) =>
        File.Exists(Path.Combine("/usr/sbin", name)) ? Path.Combine("/usr/sbin", name) : ProcessRunner.FindOnPath(name);
}
