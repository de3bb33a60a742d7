using System.Collections.Concurrent;
using Npgsql;
using Testcontainers.PostgreSql;

namespace Outbox.TestInfrastructure;

/// <summary>
/// The PostgreSQL server shared by all tests of a process. <see cref="AcquireAsync"/> looks, in this order, for
/// the server named by <c>OUTBOX_TEST_POSTGRES</c>, then a Testcontainers container when a Docker engine answers,
/// then a throwaway cluster made from the locally installed binaries (<see cref="LocalPostgresCluster"/>).
/// Tests isolate themselves with <see cref="CreateDatabaseAsync"/>.
/// </summary>
public sealed class PostgresServer
{
    /// <summary>A connection string (Npgsql format) to a server where the user may create databases.</summary>
    public const string EnvironmentVariable = "OUTBOX_TEST_POSTGRES";

    private const string Image = "postgres:15-alpine";
    private const string DefaultPrefix = "outbox_test";

    // PostgreSQL identifiers are at most 63 bytes; the unique suffix takes 33 of them.
    private const int MaxPrefixLength = 30;

    private static readonly SharedServer<PostgresServer> Shared = new(FindAsync);

    private readonly LocalPostgresCluster? _cluster;

    // Databases made on a server that outlives this process, dropped at exit.
    private readonly ConcurrentBag<string>? _databasesToDrop;

    private PostgresServer(string connectionString, string source, LocalPostgresCluster? cluster = null)
    {
        ConnectionString = connectionString;
        Source = source;
        _cluster = cluster;
        if (source == "environment")
        {
            _databasesToDrop = [];
            TestRunCleanup.Register(DropDatabasesAsync);
        }
    }

    /// <summary>The connection string to the server's admin database <c>postgres</c>.</summary>
    public string ConnectionString { get; }

    /// <summary>Where the server came from: <c>environment</c>, <c>testcontainers</c> or <c>local</c>.</summary>
    public string Source { get; }

    /// <summary>Whether <see cref="RestartAsync"/> is supported: only for the local cluster.</summary>
    public bool CanRestart => _cluster is not null;

    /// <summary>Returns the process-wide server, finding or starting it on the first call.</summary>
    /// <exception cref="ServerUnavailableException">No server could be found or started; the message says why.</exception>
    public static Task<PostgresServer> AcquireAsync(CancellationToken cancellationToken = default) =>
        Shared.AcquireAsync(cancellationToken);

    /// <summary>Creates a fresh, uniquely named database and returns its connection string.</summary>
    /// <param name="namePrefix">Lower-case letters, digits and underscores, at most 30 characters.</param>
    /// <param name="cancellationToken">Cancels the creation.</param>
    public async Task<string> CreateDatabaseAsync(string? namePrefix = null, CancellationToken cancellationToken = default)
    {
        var prefix = namePrefix ?? DefaultPrefix;
        if (prefix.Length is 0 or > MaxPrefixLength || !prefix.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '_'))
        {
            throw new ArgumentException(
                $"A database name prefix is 1 to {MaxPrefixLength} lower-case letters, digits or underscores.", nameof(namePrefix));
        }

        var name = $"{prefix}_{Guid.NewGuid():N}";

        // Unpooled: a pooled admin connection would be broken after a restart of the server.
        var admin = new NpgsqlConnectionStringBuilder(ConnectionString) { Pooling = false }.ConnectionString;
        await using (var connection = new NpgsqlConnection(admin))
        {
            await connection.OpenAsync(cancellationToken);
            await using var command = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
            await command.ExecuteNonQueryAsync(cancellationToken);
        }

        _databasesToDrop?.Add(name);
        return new NpgsqlConnectionStringBuilder(ConnectionString) { Database = name }.ConnectionString;
    }

    /// <summary>
    /// Restarts the local cluster and returns once it accepts connections again. Open and pooled connections
    /// break, as they would in production.
    /// </summary>
    /// <param name="immediate"><see langword="true"/> stops like a crash; <see langword="false"/> stops cleanly.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <exception cref="NotSupportedException">The server is not a local cluster (<see cref="CanRestart"/> is false).</exception>
    public Task RestartAsync(bool immediate = true, CancellationToken cancellationToken = default) =>
        _cluster is null
            ? throw new NotSupportedException($"The {Source} PostgreSQL server cannot be restarted by the tests.")
            : _cluster.RestartAsync(immediate, cancellationToken);

    private static async Task<PostgresServer> FindAsync(CancellationToken cancellationToken)
    {
        var attempts = new List<string>();

        var fromEnvironment = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(fromEnvironment))
        {
            // Whoever set the variable meant this server: say why it fails rather than quietly use another.
            try
            {
                var builder = new NpgsqlConnectionStringBuilder(fromEnvironment) { Pooling = false };
                await using var connection = new NpgsqlConnection(builder.ConnectionString);
                await connection.OpenAsync(cancellationToken);
                return new PostgresServer(fromEnvironment, "environment");
            }
            catch (Exception exception) when (exception is NpgsqlException or ArgumentException or TimeoutException)
            {
                throw ServerUnavailableException.From("PostgreSQL", [$"{EnvironmentVariable}: could not connect: {exception.Message}"]);
            }
        }

        attempts.Add($"{EnvironmentVariable}: not set");

        if (await DockerProbe.WhyUnavailableAsync() is { } noDocker)
        {
            attempts.Add($"Testcontainers: {noDocker}");
        }
        else
        {
            var container = new PostgreSqlBuilder(Image).WithCommand("-c", "max_connections=300").Build();
            try
            {
                await container.StartAsync(cancellationToken);

                // Ryuk removes the container if this process dies; this is the orderly way out.
                TestRunCleanup.Register(() => container.DisposeAsync().AsTask());
                return new PostgresServer(container.GetConnectionString(), "testcontainers");
            }
            catch (Exception exception) when (exception is not OperationCanceledException)
            {
                await container.DisposeAsync();
                attempts.Add($"Testcontainers ({Image}): {exception.Message}");
            }
        }

        try
        {
            var cluster = await LocalPostgresCluster.StartAsync(cancellationToken: cancellationToken);
            return new PostgresServer(cluster.ConnectionString, "local", cluster);
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            attempts.Add($"local cluster: {exception.Message}");
        }

        throw ServerUnavailableException.From("PostgreSQL", attempts);
    }

    /// <summary>Drops the databases this process made; the unique names leave nothing to clash with if it fails.</summary>
    private async Task DropDatabasesAsync()
    {
        var admin = new NpgsqlConnectionStringBuilder(ConnectionString) { Pooling = false }.ConnectionString;
        await using var connection = new NpgsqlConnection(admin);
        await connection.OpenAsync();
        foreach (var name in _databasesToDrop!)
        {
            // FORCE ends the connections that tests left open (and pooled).
            await using var command = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)", connection);
            await command.ExecuteNonQueryAsync();
        }
    }
}
