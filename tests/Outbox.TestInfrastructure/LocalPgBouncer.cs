using System.Diagnostics;
using System.Globalization;
using Npgsql;

namespace Outbox.TestInfrastructure;

/// <summary>
/// A throwaway PgBouncer from the locally installed binary (Debian's <c>pgbouncer</c> package), in front of one
/// PostgreSQL server: every database name is passed through to that server (<c>* = host=... port=...</c>), on a free
/// port of 127.0.0.1, in <c>pool_mode = transaction</c> (the mode that breaks session state), idle server connections
/// closed after 15 s (each test has a database of its own) and with the defaults
/// otherwise, in particular no <c>ignore_startup_parameters</c>. Clients are not authenticated (<c>auth_type = any</c>):
/// PgBouncer logs in to the server as the configured user. It runs as the <c>postgres</c> OS user when we are root, and
/// is stopped and its folder deleted on dispose, at process exit, and, should this process die without either, by a
/// small detached watchdog that waits for this process to end.
/// </summary>
public sealed class LocalPgBouncer : IAsyncDisposable
{
    private const int PortAttempts = 3;
    private static readonly TimeSpan ToolTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);

    private readonly string _directory;
    private readonly long _cleanup;
    private Process? _watchdog;
    private int _cleanedUp;

    private LocalPgBouncer(string directory)
    {
        _directory = directory;
        ConfigFile = Path.Combine(directory, "pgbouncer.ini");
        LogFile = Path.Combine(directory, "pgbouncer.log");
        PidFile = Path.Combine(directory, "pgbouncer.pid");
        _cleanup = TestRunCleanup.Register(CleanUpAsync);
    }

    /// <summary>The TCP port on 127.0.0.1.</summary>
    public int Port { get; private set; }

    /// <summary>The generated configuration.</summary>
    public string ConfigFile { get; }

    /// <summary>PgBouncer's log, kept until disposed.</summary>
    public string LogFile { get; }

    private string PidFile { get; }

    /// <summary>
    /// Starts PgBouncer in front of the server that <paramref name="serverConnectionString"/> points to, logging in
    /// to it with that connection string's user and password; returns once a query through it succeeds.
    /// </summary>
    /// <param name="serverConnectionString">An Npgsql connection string to the server (any database).</param>
    /// <param name="poolSize">Server connections per database and user (<c>default_pool_size</c>).</param>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <exception cref="ServerUnavailableException">No <c>pgbouncer</c> binary was found.</exception>
    public static async Task<LocalPgBouncer> StartAsync(string serverConnectionString, int poolSize = 40, CancellationToken cancellationToken = default)
    {
        var binary = FindBinary();
        var bouncer = new LocalPgBouncer(Directory.CreateTempSubdirectory("outbox-pgbouncer-").FullName);
        try
        {
            await bouncer.InitializeAsync(binary, new NpgsqlConnectionStringBuilder(serverConnectionString), poolSize, cancellationToken);
            return bouncer;
        }
        catch
        {
            await bouncer.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// The same connection string (database, user, every other keyword) with host and port replaced by PgBouncer's:
    /// a client goes through the pooler to the same database.
    /// </summary>
    public string Through(string serverConnectionString) =>
        new NpgsqlConnectionStringBuilder(serverConnectionString) { Host = "127.0.0.1", Port = Port }.ConnectionString;

    /// <summary>Stops PgBouncer at once and deletes its folder.</summary>
    public async ValueTask DisposeAsync()
    {
        await CleanUpAsync();
        TestRunCleanup.Unregister(_cleanup);
    }

    private async Task InitializeAsync(string binary, NpgsqlConnectionStringBuilder server, int poolSize, CancellationToken cancellationToken)
    {
        StartWatchdog();
        if (ProcessRunner.IsRoot)
        {
            (await ProcessRunner.RunAsync("chown", ["-R", $"{ProcessRunner.PostgresUser}:", _directory], ToolTimeout, cancellationToken))
                .EnsureSuccess();
        }

        var host = string.IsNullOrEmpty(server.Host) || server.Host == "localhost" ? "127.0.0.1" : server.Host;
        var target = $"host={host} port={server.Port} user={Quote(server.Username ?? "postgres")}"
            + (string.IsNullOrEmpty(server.Password) ? string.Empty : $" password={Quote(server.Password)}");

        // A port picked as free can be taken by someone else before PgBouncer binds it: then pick another.
        for (var attempt = 1; ; attempt++)
        {
            var port = ProcessRunner.PickFreePort();
            await WriteConfigAsync(target, port, poolSize, cancellationToken);
            var start = await ProcessRunner.RunPostgresToolAsync(binary, ["-d", ConfigFile], ToolTimeout, cancellationToken);
            if (start.ExitCode == 0)
            {
                Port = port;
                try
                {
                    await WaitUntilAcceptingAsync(server, cancellationToken);
                    return;
                }
                catch (TimeoutException) when (attempt < PortAttempts && ReadLogTail().Contains("Address already in use", StringComparison.Ordinal))
                {
                    await StopAsync();
                    continue;
                }
            }

            if (attempt == PortAttempts || !ReadLogTail().Contains("Address already in use", StringComparison.Ordinal))
            {
                throw new InvalidOperationException($"{start.CommandLine} failed: {start.Output.Trim()}{Environment.NewLine}{ReadLogTail()}");
            }
        }
    }

    private async Task WriteConfigAsync(string target, int port, int poolSize, CancellationToken cancellationToken)
    {
        string[] lines =
        [
            "[databases]",
            $"* = {target}",
            string.Empty,
            "[pgbouncer]",
            "listen_addr = 127.0.0.1",
            $"listen_port = {port.ToString(CultureInfo.InvariantCulture)}",
            "unix_socket_dir =",
            "pool_mode = transaction",
            "auth_type = any",
            "max_client_conn = 2000",
            $"default_pool_size = {poolSize.ToString(CultureInfo.InvariantCulture)}",
            // Every test makes a database of its own; without this, each one's idle server connections stay open for
            // the default 600 s and a long test run crowds the server's max_connections with them.
            "server_idle_timeout = 15",
            "log_connections = 0",
            "log_disconnections = 0",
            $"logfile = {LogFile}",
            $"pidfile = {PidFile}",
        ];
        await File.WriteAllLinesAsync(ConfigFile, lines, cancellationToken);
        if (ProcessRunner.IsRoot)
        {
            (await ProcessRunner.RunAsync("chown", [$"{ProcessRunner.PostgresUser}:", ConfigFile], ToolTimeout, cancellationToken)).EnsureSuccess();
        }
    }

    private async Task WaitUntilAcceptingAsync(NpgsqlConnectionStringBuilder server, CancellationToken cancellationToken)
    {
        var probe = new NpgsqlConnectionStringBuilder(Through(server.ConnectionString)) { Pooling = false, Timeout = 5 }.ConnectionString;
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                await using var connection = new NpgsqlConnection(probe);
                await connection.OpenAsync(cancellationToken);
                await using var command = new NpgsqlCommand("SELECT 1", connection);
                await command.ExecuteScalarAsync(cancellationToken);
                return;
            }
            catch (Exception exception) when (exception is NpgsqlException or TimeoutException)
            {
                if (deadline.Elapsed > StartTimeout)
                {
                    throw new TimeoutException(
                        $"PgBouncer on port {Port} did not answer within {StartTimeout.TotalSeconds:0} s: {exception.Message}{Environment.NewLine}{ReadLogTail()}",
                        exception);
                }

                await Task.Delay(TimeSpan.FromMilliseconds(100), cancellationToken);
            }
        }
    }

    /// <summary>Ends the daemon named by the pid file (SIGTERM: immediate shutdown) and waits until it has gone.</summary>
    private async Task StopAsync()
    {
        if (!File.Exists(PidFile) || !int.TryParse((await File.ReadAllTextAsync(PidFile)).Trim(), CultureInfo.InvariantCulture, out var pid))
        {
            return;
        }

        Process process;
        try
        {
            process = Process.GetProcessById(pid);
        }
        catch (ArgumentException)
        {
            return; // already gone
        }

        using (process)
        {
            await ProcessRunner.RunAsync("kill", ["-TERM", pid.ToString(CultureInfo.InvariantCulture)], ToolTimeout, CancellationToken.None);
            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try
            {
                await process.WaitForExitAsync(wait.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill();
            }
        }
    }

    /// <summary>
    /// Starts a detached process (its own session, so a killed process group spares it) that waits for this process
    /// to end, then ends PgBouncer and deletes the folder: the cleanup of last resort after a crash.
    /// </summary>
    private void StartWatchdog()
    {
        const string script = """
            exec </dev/null >/dev/null 2>&1
            owner=$1 directory=$2 pidfile=$3
            while kill -0 "$owner"; do sleep 1; done
            [ -f "$pidfile" ] && kill -TERM "$(cat "$pidfile")"
            rm -rf "$directory"
            """;
        _watchdog = ProcessRunner.StartWatchdog(script, "outbox-pgbouncer-watchdog", [_directory, PidFile]);
    }

    private async Task CleanUpAsync()
    {
        if (Interlocked.Exchange(ref _cleanedUp, 1) != 0)
        {
            return;
        }

        try
        {
            await StopAsync();
        }
        finally
        {
            if (_watchdog is not null)
            {
                _watchdog.Kill();
                _watchdog.Dispose();
            }

            if (Directory.Exists(_directory))
            {
                Directory.Delete(_directory, recursive: true);
            }
        }
    }

    private string ReadLogTail()
    {
        if (!File.Exists(LogFile))
        {
            return "(no PgBouncer log)";
        }

        var lines = File.ReadAllLines(LogFile);
        return $"Last lines of {LogFile}:{Environment.NewLine}{string.Join(Environment.NewLine, lines.TakeLast(20))}";
    }

    private static string Quote(string value) => "'" + value.Replace("'", "''", StringComparison.Ordinal) + "'";

    private static string FindBinary() =>
        ProcessRunner.FindOnPath("pgbouncer")
        ?? (File.Exists("/usr/sbin/pgbouncer") ? "/usr/sbin/pgbouncer" : null)
        ?? throw new ServerUnavailableException(
            "No pgbouncer binary was found on PATH or at /usr/sbin/pgbouncer; install it (e.g. apt-get install pgbouncer).");
}
