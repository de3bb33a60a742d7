using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace Outbox.TestInfrastructure;

/// <summary>
/// A throwaway ActiveMQ Classic broker started from the Debian install (<c>apt-get install activemq</c>:
/// <c>/usr/share/activemq/bin/activemq.jar</c>) with its own folder under the temp directory (configuration, KahaDB data,
/// logs), no JMX, no web console and a single STOMP connector on 127.0.0.1 and a free port. The java process is this
/// object's child: <see cref="StopAsync"/> and <see cref="StartAsync"/> restart it on the same port
/// and data (persistent messages survive), <see cref="DisposeAsync"/> stops it and deletes the folder. Registered with
/// <see cref="TestRunCleanup"/>; a small detached watchdog does the same if this process is killed.
/// </summary>
public sealed class LocalActiveMqBroker : IAsyncDisposable
{
    /// <summary>Where Debian installs ActiveMQ.</summary>
    public const string DebianHome = "/usr/share/activemq";

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(120);

    private readonly string _home;
    private readonly string _directory;
    private readonly SemaphoreSlim _control = new(1, 1);
    private readonly long _cleanup;
    private Process? _java;
    private Process? _watchdog;
    private int _disposed;

    private LocalActiveMqBroker(string home, string directory, int port)
    {
        _home = home;
        _directory = directory;
        Port = port;
        _cleanup = TestRunCleanup.Register(() => DisposeAsync().AsTask());
    }

    /// <summary>The STOMP port on 127.0.0.1.</summary>
    public int Port { get; }

    /// <summary>The broker's STOMP address.</summary>
    public Uri StompUri => new($"stomp://127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}");

    /// <summary>The broker's log file.</summary>
    public string LogFile => Path.Combine(_directory, "data", "activemq.log");

    /// <summary>Whether the Debian ActiveMQ and a java runtime are installed; null if so, else why not.</summary>
    public static string? WhyUnavailable()
    {
        if (!File.Exists(Path.Combine(DebianHome, "bin", "activemq.jar")))
        {
            return $"{DebianHome}/bin/activemq.jar is missing: install ActiveMQ (apt-get install activemq)";
        }

        return ProcessRunner.FindOnPath("java") is null ? "java is not on the PATH (apt-get install activemq brings a runtime)" : null;
    }

    /// <summary>Starts a new broker and returns once it accepts STOMP connections.</summary>
    /// <exception cref="ServerUnavailableException">ActiveMQ is not installed, or it did not start; the message says why.</exception>
    public static async Task<LocalActiveMqBroker> CreateAsync(CancellationToken cancellationToken = default)
    {
        if (WhyUnavailable() is { } why)
        {
            throw new ServerUnavailableException(why);
        }

        var directory = Path.Combine(Path.GetTempPath(), $"outbox-activemq-{Environment.ProcessId}-{Guid.NewGuid():N}"[..40]);
        Directory.CreateDirectory(Path.Combine(directory, "conf"));
        Directory.CreateDirectory(Path.Combine(directory, "data"));
        var broker = new LocalActiveMqBroker(DebianHome, directory, ProcessRunner.PickFreePort());
        try
        {
            broker.WriteConfiguration();
            broker.StartWatchdog();
            await broker.StartAsync(cancellationToken);
            return broker;
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            var log = broker.TailOfLog();
            await broker.DisposeAsync();
            throw new ServerUnavailableException($"the local ActiveMQ broker did not start: {exception.Message}{log}");
        }
    }

    /// <summary>Starts the (stopped) broker again on the same port and data; returns once it accepts STOMP connections.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await _control.WaitAsync(cancellationToken);
        try
        {
            if (_java is { HasExited: false })
            {
                return;
            }

            var conf = Path.Combine(_directory, "conf");
            var data = Path.Combine(_directory, "data");
            var startInfo = new ProcessStartInfo("java")
            {
                UseShellExecute = false,
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                WorkingDirectory = _directory,
            };
            foreach (var argument in (string[])
                [
                    "-Xms64M", "-Xmx384M", "-XX:+UseSerialGC", "-Djava.awt.headless=true",
                    "--add-opens", "java.base/java.lang=ALL-UNNAMED",
                    $"-Dactivemq.classpath={conf}:{_home}/lib/",
                    $"-Dactivemq.home={_home}", $"-Dactivemq.base={_directory}", $"-Dactivemq.conf={conf}", $"-Dactivemq.data={data}",
                    $"-Dlog4j2.configurationFile={Path.Combine(conf, "log4j2.properties")}",
                    "-jar", Path.Combine(_home, "bin", "activemq.jar"),
                    "start", $"xbean:file:{Path.Combine(conf, "activemq.xml")}",
                ])
            {
                startInfo.ArgumentList.Add(argument);
            }

            var java = Process.Start(startInfo) ?? throw new InvalidOperationException("java did not start.");
            java.StandardInput.Close();
            _ = java.StandardOutput.ReadToEndAsync(CancellationToken.None); // drained, or the broker blocks on a full pipe
            _ = java.StandardError.ReadToEndAsync(CancellationToken.None);
            _java = java;
            await File.WriteAllTextAsync(Path.Combine(_directory, "java.pid"), java.Id.ToString(CultureInfo.InvariantCulture), cancellationToken);

            var deadline = Stopwatch.StartNew();
            while (!await TryStompConnectAsync(Port, cancellationToken))
            {
                if (java.HasExited)
                {
                    throw new InvalidOperationException($"java exited with code {java.ExitCode}.");
                }

                if (deadline.Elapsed > StartTimeout)
                {
                    throw new TimeoutException($"the broker did not accept STOMP connections on 127.0.0.1:{Port} within {StartTimeout.TotalSeconds:0} s.");
                }

                await Task.Delay(200, cancellationToken);
            }
        }
        finally
        {
            _control.Release();
        }
    }

    /// <summary>
    /// Stops the broker: gracefully (SIGTERM; ActiveMQ closes its store and connections) or, with
    /// <paramref name="kill"/>, at once (SIGKILL; KahaDB recovers from its journal on the next start).
    /// </summary>
    public async Task StopAsync(bool kill = false, CancellationToken cancellationToken = default)
    {
        await _control.WaitAsync(cancellationToken);
        try
        {
            if (_java is not { } java)
            {
                return;
            }

            if (!java.HasExited)
            {
                if (kill)
                {
                    java.Kill();
                }
                else
                {
                    _ = await ProcessRunner.RunAsync("kill", ["-TERM", java.Id.ToString(CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(10), cancellationToken);
                }

                using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(60));
                try
                {
                    await java.WaitForExitAsync(patience.Token);
                }
                catch (OperationCanceledException)
                {
                    java.Kill();
                    await java.WaitForExitAsync(CancellationToken.None);
                }
            }

            java.Dispose();
            _java = null;
        }
        finally
        {
            _control.Release();
        }
    }

    /// <summary>Stops the broker and deletes its folder.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        TestRunCleanup.Unregister(_cleanup);
        try
        {
            await StopAsync(kill: true);
        }
        catch (Exception)
        {
            // Best effort.
        }

        try
        {
            _watchdog?.Kill();
        }
        catch (Exception)
        {
            // Gone already.
        }

        _watchdog?.Dispose();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (Exception)
        {
            // Best effort.
        }
    }

    /// <summary>Whether a STOMP CONNECT to 127.0.0.1:<paramref name="port"/> is answered with CONNECTED.</summary>
    public static async Task<bool> TryStompConnectAsync(int port, CancellationToken cancellationToken, string host = "127.0.0.1")
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(5));
            using var client = new TcpClient();
            await client.ConnectAsync(host, port, timeout.Token);
            var stream = client.GetStream();
            await stream.WriteAsync("CONNECT\naccept-version:1.2\nhost:localhost\nheart-beat:0,0\n\n\0"u8.ToArray(), timeout.Token);
            var buffer = new byte[512];
            var read = await stream.ReadAsync(buffer, timeout.Token);
            var ok = read > 0 && Encoding.ASCII.GetString(buffer, 0, read).StartsWith("CONNECTED", StringComparison.Ordinal);
            await stream.WriteAsync("DISCONNECT\n\n\0"u8.ToArray(), timeout.Token);
            return ok;
        }
        catch (Exception exception) when (exception is SocketException or IOException || (exception is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            return false;
        }
    }

    private void WriteConfiguration()
    {
        var data = Path.Combine(_directory, "data");
        File.WriteAllText(Path.Combine(_directory, "conf", "activemq.xml"), $"""
            <beans xmlns="http://www.springframework.org/schema/beans" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
              xsi:schemaLocation="http://www.springframework.org/schema/beans http://www.springframework.org/schema/beans/spring-beans-2.0.xsd http://activemq.apache.org/schema/core http://activemq.apache.org/schema/core/activemq-core.xsd">
              <broker xmlns="http://activemq.apache.org/schema/core" useJmx="false" brokerName="outbox-tests" dataDirectory="{data}" schedulerSupport="false" advisorySupport="false">
                <destinationPolicy>
                  <policyMap><policyEntries><policyEntry queue="&gt;" prioritizedMessages="false" /></policyEntries></policyMap>
                </destinationPolicy>
                <persistenceAdapter><kahaDB directory="{data}/kahadb" /></persistenceAdapter>
                <systemUsage><systemUsage>
                  <memoryUsage><memoryUsage limit="128 mb" /></memoryUsage>
                  <storeUsage><storeUsage limit="2 gb" /></storeUsage>
                  <tempUsage><tempUsage limit="512 mb" /></tempUsage>
                </systemUsage></systemUsage>
                <transportConnectors>
                  <transportConnector name="stomp" uri="stomp://127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}?transport.closeAsync=false" />
                </transportConnectors>
              </broker>
            </beans>
            """);
        File.WriteAllText(Path.Combine(_directory, "conf", "log4j2.properties"), """
            rootLogger.level=WARN
            rootLogger.appenderRef.logfile.ref=RollingFile
            appender.logfile.type=RollingRandomAccessFile
            appender.logfile.name=RollingFile
            appender.logfile.fileName=${sys:activemq.data}/activemq.log
            appender.logfile.filePattern=${sys:activemq.data}/activemq.log.%i
            appender.logfile.layout.type=PatternLayout
            appender.logfile.layout.pattern=%d | %-5p | %m | %c | %t%n%throwable{full}
            appender.logfile.policies.type=Policies
            appender.logfile.policies.size.type=SizeBasedTriggeringPolicy
            appender.logfile.policies.size.size=4MB
            appender.logfile.strategy.type=DefaultRolloverStrategy
            appender.logfile.strategy.max=2
            """);
    }

    /// <summary>Kills the broker and deletes its folder when this process has gone without doing it (SIGKILL).</summary>
    private void StartWatchdog()
    {
        const string script = """
            exec </dev/null >/dev/null 2>&1
            owner=$1 directory=$2
            while kill -0 "$owner"; do sleep 1; done
            if [ -f "$directory/java.pid" ]; then kill -9 "$(cat "$directory/java.pid")"; fi
            sleep 1
            rm -rf "$directory"
            """;
        _watchdog = ProcessRunner.StartWatchdog(script, "outbox-activemq-watchdog", [_directory]);
    }

    private string TailOfLog()
    {
        try
        {
            var lines = File.ReadAllLines(LogFile);
            return lines.Length == 0 ? "" : $" (log: {string.Join(" / ", lines.TakeLast(5))})";
        }
        catch (IOException)
        {
            return "";
        }
    }
}
