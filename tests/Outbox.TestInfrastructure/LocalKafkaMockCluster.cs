using System.Diagnostics;

namespace Outbox.TestInfrastructure;

/// <summary>
/// librdkafka's mock cluster in a helper process (tests/Outbox.KafkaMockCluster): brokers on 127.0.0.1 listeners that
/// speak the Kafka protocol, so that any process (tests, dispatcher, consumers, the harness) connects over TCP. The
/// helper lives while our pipe to its stdin is open: it ends with this process, even when this process is killed.
/// Topics are created through the helper (<c>rd_kafka_mock_topic_create</c>).
/// </summary>
public sealed class LocalKafkaMockCluster : IAsyncDisposable
{
    private readonly Process _process;
    private readonly SemaphoreSlim _commands = new(1, 1);
    private long _cleanup;

    private LocalKafkaMockCluster(Process process, string bootstrapServers)
    {
        _process = process;
        BootstrapServers = bootstrapServers;
    }

    /// <summary>The mock brokers' <c>host:port</c> list.</summary>
    public string BootstrapServers { get; }

    /// <summary>Starts a mock cluster of <paramref name="brokers"/> brokers and waits for its bootstrap servers.</summary>
    public static async Task<LocalKafkaMockCluster> StartAsync(int brokers, CancellationToken cancellationToken)
    {
        var helper = Path.Combine(AppContext.BaseDirectory, "Outbox.KafkaMockCluster.dll");
        if (!File.Exists(helper))
        {
            throw new FileNotFoundException($"The mock cluster helper is not next to the tests ({helper}); reference tests/Outbox.TestInfrastructure.", helper);
        }

        var startInfo = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        startInfo.ArgumentList.Add(helper);
        startInfo.ArgumentList.Add(brokers.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var process = Process.Start(startInfo) ?? throw new InvalidOperationException("Could not start the mock cluster helper.");
        process.ErrorDataReceived += (_, _) => { }; // librdkafka's own log lines: not needed
        process.BeginErrorReadLine();
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(60));
            var line = await process.StandardOutput.ReadLineAsync(timeout.Token);
            if (line is null || !line.StartsWith("bootstrap=", StringComparison.Ordinal))
            {
                throw new InvalidOperationException($"The mock cluster helper did not print its bootstrap servers (got '{line}', exit {(process.HasExited ? process.ExitCode : "-")}).");
            }

            var cluster = new LocalKafkaMockCluster(process, line["bootstrap=".Length..]);
            cluster._cleanup = TestRunCleanup.Register(() => cluster.DisposeAsync().AsTask());
            return cluster;
        }
        catch
        {
            Kill(process);
            process.Dispose();
            throw;
        }
    }

    /// <summary>Creates a topic (replication factor up to 3). Creating an existing topic is harmless.</summary>
    public async Task CreateTopicAsync(string topic, int partitions, CancellationToken cancellationToken)
    {
        var reply = await CommandAsync($"topic {topic} {partitions}", cancellationToken);
        if (reply is not "ok" && reply?.StartsWith("error 36", StringComparison.Ordinal) != true) // 36: TOPIC_ALREADY_EXISTS
        {
            throw new InvalidOperationException($"The mock cluster could not create topic '{topic}': {reply ?? "no reply"}.");
        }
    }

    /// <summary>
    /// Takes every broker down (their connections are closed, new ones refused; what they store stays) and, after
    /// <paramref name="downtime"/>, up again: a network failure between the clients and the whole cluster.
    /// </summary>
    public async Task SeverAsync(TimeSpan downtime, CancellationToken cancellationToken)
    {
        var down = await CommandAsync("down", cancellationToken);
        await Task.Delay(downtime, cancellationToken);
        var up = await CommandAsync("up", cancellationToken);
        if (down is not "ok" || up is not "ok")
        {
            throw new InvalidOperationException($"The mock cluster could not take its brokers down and up: {down}, {up}.");
        }
    }

    private async Task<string?> CommandAsync(string command, CancellationToken cancellationToken)
    {
        await _commands.WaitAsync(cancellationToken);
        try
        {
            await _process.StandardInput.WriteLineAsync(command.AsMemory(), cancellationToken);
            await _process.StandardInput.FlushAsync(cancellationToken);
            return await _process.StandardOutput.ReadLineAsync(cancellationToken);
        }
        finally
        {
            _commands.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        TestRunCleanup.Unregister(_cleanup);
        try
        {
            _process.StandardInput.Close(); // the helper exits when its stdin closes
            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await _process.WaitForExitAsync(wait.Token);
        }
        catch (Exception)
        {
            Kill(_process);
        }

        _process.Dispose();
    }

    private static void Kill(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }
}
