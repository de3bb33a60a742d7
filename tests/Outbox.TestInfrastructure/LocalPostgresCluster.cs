using System.Diagnostics;
using System.Globalization;
using Npgsql;

namespace Outbox.TestInfrastructure;

/// <summary>
/// A throwaway PostgreSQL cluster made from the locally installed binaries: <c>initdb</c> into a fresh folder,
/// started with <c>pg_ctl</c> on 127.0.0.1 and trust authentication, as the <c>postgres</c> OS user when we are root.
/// It is stopped and its folder deleted on dispose, at process exit, and, should this process die without either,
/// by a small detached watchdog that waits for this process to end.
/// </summary>
public sealed class LocalPostgresCluster : IAsyncDisposable
{
    private const int PortAttempts = 3;
    private static readonly TimeSpan ToolTimeout = TimeSpan.FromSeconds(60);

    private readonly string _binDirectory;
    private readonly string _clusterDirectory;
    private readonly TimeSpan _startTimeout;
    private readonly SemaphoreSlim _control = new(1, 1);
    private readonly long _cleanup;
    private Process? _watchdog;
    private int _cleanedUp;

    private LocalPostgresCluster(string binDirectory, string clusterDirectory, TimeSpan startTimeout)
    {
        _binDirectory = binDirectory;
        _clusterDirectory = clusterDirectory;
        _startTimeout = startTimeout;
        DataDirectory = Path.Combine(clusterDirectory, "data");
        LogFile = Path.Combine(clusterDirectory, "postgres.log");

        // The watchdog would also clean up after this process, but only after it has gone: do it when the run ends.
        _cleanup = TestRunCleanup.Register(CleanUpAsync);
    }

    /// <summary>The connection string of the superuser <c>postgres</c> to the database <c>postgres</c>.</summary>
    public string ConnectionString { get; private set; } = string.Empty;

    /// <summary>The TCP port on 127.0.0.1.</summary>
    public int Port { get; private set; }

    /// <summary>The cluster's data directory (<c>PGDATA</c>).</summary>
    public string DataDirectory { get; }

    /// <summary>The server's log file, kept until the cluster is disposed.</summary>
    public string LogFile { get; }

    /// <summary>Creates a new cluster and starts it; returns once it accepts connections.</summary>
    /// <exception cref="ServerUnavailableException">No PostgreSQL server binaries were found.</exception>
    public static async Task<LocalPostgresCluster> StartAsync(
        LocalPostgresClusterOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        options ??= new LocalPostgresClusterOptions();
        var binDirectory = options.BinDirectory ?? await FindBinDirectoryAsync(cancellationToken);
        var cluster = new LocalPostgresCluster(binDirectory, CreateClusterDirectory(options.ClusterDirectory), options.StartTimeout);
        try
        {
            await cluster.InitializeAsync(options, primary: null, cancellationToken);
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Makes a streaming standby of this server in a cluster of its own (<c>pg_basebackup -R -X stream</c> from this
    /// server, as the <c>postgres</c> user) and starts it; returns once it accepts (read-only) connections. Promote it
    /// with <see cref="PromoteAsync"/> once this server is gone: a failover.
    /// </summary>
    /// <param name="options">The standby's port, folder and settings; its binaries are this server's.</param>
    /// <param name="cancellationToken">Cancels the copy and the start.</param>
    public async Task<LocalPostgresCluster> StartStandbyAsync(LocalPostgresClusterOptions? options = null, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_cleanedUp != 0, this);
        options ??= new LocalPostgresClusterOptions();
        var standby = new LocalPostgresCluster(_binDirectory, CreateClusterDirectory(options.ClusterDirectory), options.StartTimeout);
        try
        {
            await standby.InitializeAsync(options, primary: this, cancellationToken);
            return standby;
        }
        catch
        {
            await standby.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Returns once <paramref name="standby"/> has replayed everything this server had written when called
    /// (<c>pg_last_wal_replay_lsn()</c> at or past this server's <c>pg_current_wal_lsn()</c>): what was committed is on
    /// the standby too.
    /// </summary>
    /// <exception cref="TimeoutException">The standby did not catch up within the start timeout.</exception>
    public async Task WaitUntilReplayedByAsync(LocalPostgresCluster standby, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(standby);
        string target;
        await using (var connection = new NpgsqlConnection(Unpooled))
        {
            await connection.OpenAsync(cancellationToken);
            await using var command = new NpgsqlCommand("SELECT pg_current_wal_lsn()::text", connection);
            target = (string)(await command.ExecuteScalarAsync(cancellationToken))!;
        }

        await using var replica = new NpgsqlConnection(standby.Unpooled);
        await replica.OpenAsync(cancellationToken);
        await using var replayed = new NpgsqlCommand("SELECT pg_last_wal_replay_lsn() >= @target::pg_lsn", replica);
        replayed.Parameters.AddWithValue("target", target);
        var deadline = Stopwatch.StartNew();
        while (await replayed.ExecuteScalarAsync(cancellationToken) is not true)
        {
            if (deadline.Elapsed > _startTimeout)
            {
                throw new TimeoutException($"The standby on port {standby.Port} had not replayed up to {target} of port {Port} after {_startTimeout}.");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(20), cancellationToken);
        }
    }

    /// <summary>
    /// Promotes this standby (<c>pg_ctl promote -w</c>) and returns once it accepts writes: a connection to it sees
    /// <c>pg_is_in_recovery()</c> false.
    /// </summary>
    public async Task PromoteAsync(CancellationToken cancellationToken = default)
    {
        await _control.WaitAsync(cancellationToken);
        try
        {
            ObjectDisposedException.ThrowIf(_cleanedUp != 0, this);
            var promote = await PgCtlAsync(["-w", "-t", TimeoutSeconds, "promote"], cancellationToken);
            if (promote.ExitCode != 0)
            {
                throw new InvalidOperationException($"{promote.CommandLine} failed: {promote.Output.Trim()}{Environment.NewLine}{ReadLogTail()}");
            }

            var deadline = Stopwatch.StartNew();
            while (true)
            {
                await using var connection = new NpgsqlConnection(Unpooled);
                await connection.OpenAsync(cancellationToken);
                await using var command = new NpgsqlCommand("SELECT pg_is_in_recovery()", connection);
                if (await command.ExecuteScalarAsync(cancellationToken) is false)
                {
                    return;
                }

                if (deadline.Elapsed > _startTimeout)
                {
                    throw new InvalidOperationException($"The standby on port {Port} was still in recovery {_startTimeout} after pg_ctl promote.{Environment.NewLine}{ReadLogTail()}");
                }

                await Task.Delay(TimeSpan.FromMilliseconds(20), cancellationToken);
            }
        }
        finally
        {
            _control.Release();
        }
    }

    /// <summary>
    /// Restarts the server and returns once it accepts connections again; also starts a stopped server.
    /// Open connections break, as they would in production; pooled ones fail on their next use.
    /// </summary>
    /// <param name="immediate">
    /// <see langword="true"/> stops like a crash (<c>-m immediate</c>, crash recovery on start);
    /// <see langword="false"/> stops cleanly (<c>-m fast</c>).
    /// </param>
    public async Task RestartAsync(bool immediate = true, CancellationToken cancellationToken = default)
    {
        await _control.WaitAsync(cancellationToken);
        try
        {
            ObjectDisposedException.ThrowIf(_cleanedUp != 0, this);
            var restart = await PgCtlAsync(["-l", LogFile, "-w", "-t", TimeoutSeconds, "-m", StopMode(immediate), "restart"], cancellationToken);
            if (restart.ExitCode != 0)
            {
                throw new InvalidOperationException($"{restart.CommandLine} failed: {restart.Output.Trim()}{Environment.NewLine}{ReadLogTail()}");
            }

            await WaitUntilAcceptingAsync(cancellationToken);
        }
        finally
        {
            _control.Release();
        }
    }

    /// <summary>Stops the server (a stopped one stays stopped); <see cref="RestartAsync"/> starts it again.</summary>
    /// <param name="immediate">
    /// <see langword="true"/> stops like a crash (<c>-m immediate</c>); <see langword="false"/> stops cleanly.
    /// </param>
    public async Task StopAsync(bool immediate = true, CancellationToken cancellationToken = default)
    {
        await _control.WaitAsync(cancellationToken);
        try
        {
            ObjectDisposedException.ThrowIf(_cleanedUp != 0, this);
            await StopServerAsync(immediate, cancellationToken);
        }
        finally
        {
            _control.Release();
        }
    }

    /// <summary>Stops the server at once and deletes the cluster's folder.</summary>
    public async ValueTask DisposeAsync()
    {
        await CleanUpAsync();
        TestRunCleanup.Unregister(_cleanup);
    }

    // Unpooled, with a short connect timeout: a server on a port a killed one had must not be reached through the
    // killed one's pooled connections.
    private string Unpooled => new NpgsqlConnectionStringBuilder(ConnectionString) { Pooling = false, Timeout = 5 }.ConnectionString;

    private string TimeoutSeconds => ((int)Math.Ceiling(_startTimeout.TotalSeconds)).ToString(CultureInfo.InvariantCulture);

    private static string StopMode(bool immediate) => immediate ? "immediate" : "fast";

    private async Task InitializeAsync(LocalPostgresClusterOptions options, LocalPostgresCluster? primary, CancellationToken cancellationToken)
    {
        StartWatchdog();
        var socketDirectory = Directory.CreateDirectory(Path.Combine(_clusterDirectory, "socket")).FullName;
        if (ProcessRunner.IsRoot)
        {
            (await ProcessRunner.RunAsync("chown", ["-R", $"{ProcessRunner.PostgresUser}:", _clusterDirectory], ToolTimeout, cancellationToken))
                .EnsureSuccess();
        }

        // A standby starts as a copy of its primary (configuration included; the settings below are appended after
        // the primary's, so they win); initdb's pg_hba.conf already trusts replication connections from 127.0.0.1.
        (await (primary is null
                ? ProcessRunner.RunPostgresToolAsync(
                    Path.Combine(_binDirectory, "initdb"),
                    ["-D", DataDirectory, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"],
                    ToolTimeout,
                    cancellationToken)
                : ProcessRunner.RunPostgresToolAsync(
                    Path.Combine(_binDirectory, "pg_basebackup"),
                    ["-D", DataDirectory, "-h", "127.0.0.1", "-p", primary.Port.ToString(CultureInfo.InvariantCulture), "-U", "postgres",
                        "-R", "-X", "stream", "-c", "fast", "--no-sync"],
                    ToolTimeout,
                    cancellationToken)))
            .EnsureSuccess();

        var settings = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["listen_addresses"] = "127.0.0.1",
            ["unix_socket_directories"] = socketDirectory,
            ["max_connections"] = options.MaxConnections.ToString(CultureInfo.InvariantCulture),
        };
        foreach (var (name, value) in options.Settings)
        {
            settings[name] = value;
        }

        await AppendSettingsAsync(settings, cancellationToken);

        // A port picked as free can be taken by someone else before the server binds it: then pick another.
        for (var attempt = 1; ; attempt++)
        {
            var port = options.Port ?? ProcessRunner.PickFreePort();
            await AppendSettingsAsync(new Dictionary<string, string> { ["port"] = port.ToString(CultureInfo.InvariantCulture) }, cancellationToken);
            var start = await PgCtlAsync(["-l", LogFile, "-w", "-t", TimeoutSeconds, "start"], cancellationToken);
            if (start.ExitCode == 0)
            {
                Port = port;
                break;
            }

            var log = ReadLogTail();
            if (options.Port is not null || attempt == PortAttempts || !log.Contains("could not bind", StringComparison.Ordinal))
            {
                throw new InvalidOperationException($"{start.CommandLine} failed: {start.Output.Trim()}{Environment.NewLine}{log}");
            }
        }

        ConnectionString = new NpgsqlConnectionStringBuilder
        {
            Host = "127.0.0.1",
            Port = Port,
            Username = "postgres",
            Database = "postgres",
        }.ConnectionString;
        await WaitUntilAcceptingAsync(cancellationToken);
    }

    /// <summary>
    /// Appends to postgresql.conf; a later line for the same setting wins. Values are quoted, which PostgreSQL
    /// accepts for settings of every type.
    /// </summary>
    private async Task AppendSettingsAsync(IDictionary<string, string> settings, CancellationToken cancellationToken)
    {
        var lines = settings.Select(setting => $"{setting.Key} = '{setting.Value.Replace("'", "''", StringComparison.Ordinal)}'");
        await File.AppendAllLinesAsync(Path.Combine(DataDirectory, "postgresql.conf"), lines, cancellationToken);
    }

    private async Task WaitUntilAcceptingAsync(CancellationToken cancellationToken)
    {
        // pg_ctl -w already waited for the server to be ready; this proves it over TCP, the way clients connect.
        var probe = new NpgsqlConnectionStringBuilder(ConnectionString) { Pooling = false, Timeout = 5 }.ConnectionString;
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                await using var connection = new NpgsqlConnection(probe);
                await connection.OpenAsync(cancellationToken);
                return;
            }
            catch (NpgsqlException) when (deadline.Elapsed < _startTimeout)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(100), cancellationToken);
            }
        }
    }

    private async Task StopServerAsync(bool immediate, CancellationToken cancellationToken)
    {
        var stop = await PgCtlAsync(["-w", "-t", TimeoutSeconds, "-m", StopMode(immediate), "stop"], cancellationToken);
        var alreadyStopped = stop.Output.Contains("Is server running?", StringComparison.Ordinal);
        if (stop.ExitCode != 0 && !alreadyStopped)
        {
            stop.EnsureSuccess();
        }
    }

    private Task<ProcessResult> PgCtlAsync(string[] arguments, CancellationToken cancellationToken) =>
        ProcessRunner.RunPostgresToolAsync(
            Path.Combine(_binDirectory, "pg_ctl"),
            ["-D", DataDirectory, "-s", .. arguments],
            _startTimeout + TimeSpan.FromSeconds(10),
            cancellationToken);

    /// <summary>
    /// Starts a detached process (its own session, so a killed process group spares it) that waits for this
    /// process to end, then stops the server and deletes the folder: the cleanup of last resort after a crash.
    /// </summary>
    private void StartWatchdog()
    {
        const string script = """
            exec </dev/null >/dev/null 2>&1
            owner=$1 directory=$2
            shift 2
            while kill -0 "$owner"; do sleep 1; done
            "$@"
            rm -rf "$directory"
            """;
        string[] stop = [Path.Combine(_binDirectory, "pg_ctl"), "-D", DataDirectory, "-m", "immediate", "stop"];
        _watchdog = ProcessRunner.StartWatchdog(
            script,
            "outbox-postgres-watchdog",
            [_clusterDirectory, .. ProcessRunner.IsRoot ? ["runuser", "-u", ProcessRunner.PostgresUser, "--", .. stop] : stop]);
    }

    private async Task CleanUpAsync()
    {
        if (Interlocked.Exchange(ref _cleanedUp, 1) != 0)
        {
            return;
        }

        try
        {
            if (File.Exists(Path.Combine(DataDirectory, "postmaster.pid")))
            {
                await StopServerAsync(immediate: true, CancellationToken.None);
            }
        }
        finally
        {
            if (_watchdog is not null)
            {
                _watchdog.Kill();
                _watchdog.Dispose();
            }

            if (Directory.Exists(_clusterDirectory))
            {
                Directory.Delete(_clusterDirectory, recursive: true);
            }
        }
    }

    private string ReadLogTail()
    {
        if (!File.Exists(LogFile))
        {
            return "(no server log)";
        }

        var lines = File.ReadAllLines(LogFile);
        return $"Last lines of {LogFile}:{Environment.NewLine}{string.Join(Environment.NewLine, lines.TakeLast(20))}";
    }

    private static string CreateClusterDirectory(string? requested)
    {
        if (requested is null)
        {
            return Directory.CreateTempSubdirectory("outbox-pg-").FullName;
        }

        var path = Path.GetFullPath(requested);
        if (Directory.Exists(path) && Directory.EnumerateFileSystemEntries(path).Any())
        {
            throw new ArgumentException($"The cluster directory '{path}' is not empty.", nameof(requested));
        }

        Directory.CreateDirectory(path);
        return path;
    }

    private static async Task<string> FindBinDirectoryAsync(CancellationToken cancellationToken)
    {
        var candidates = new List<string>();
        if (ProcessRunner.FindOnPath("pg_config") is { } pgConfig)
        {
            var bindir = await ProcessRunner.RunAsync(pgConfig, ["--bindir"], ToolTimeout, cancellationToken);
            if (bindir.ExitCode == 0)
            {
                candidates.Add(bindir.Output.Trim());
            }
        }

        const string debianRoot = "/usr/lib/postgresql";
        if (Directory.Exists(debianRoot))
        {
            candidates.AddRange(
                Directory.EnumerateDirectories(debianRoot)
                    .Select(version => (Version: int.TryParse(Path.GetFileName(version), out var number) ? number : 0, Bin: Path.Combine(version, "bin")))
                    .OrderByDescending(version => version.Version)
                    .Select(version => version.Bin));
        }

        return candidates.FirstOrDefault(bin => File.Exists(Path.Combine(bin, "initdb")) && File.Exists(Path.Combine(bin, "pg_ctl")))
            ?? throw new ServerUnavailableException(
                "No PostgreSQL server binaries (initdb, pg_ctl) were found via pg_config --bindir or in /usr/lib/postgresql/*/bin; "
                + "install them (e.g. apt-get install postgresql-15).");
    }
}
