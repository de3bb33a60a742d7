using System.Data.Common;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Outbox.Benchmarks.Options;
using Outbox.EntityFrameworkCore;
using Outbox.TestInfrastructure;

namespace Outbox.Benchmarks.Infrastructure;

/// <summary>
/// PostgreSQL: the database given by <c>--connection</c>, else a fresh database on the server the tests use
/// (<see cref="PostgresServer.AcquireAsync"/>: OUTBOX_TEST_POSTGRES, Testcontainers, or a throwaway local cluster),
/// else, when <c>--pg-setting</c> is given, a throwaway <see cref="LocalPostgresCluster"/> with those settings.
/// </summary>
public sealed class PostgresBenchDatabase : BenchDatabase
{
    private readonly LocalPostgresCluster? _ownCluster;
    private readonly NpgsqlDataSource _dataSource;
    private int? _fillFactor;

    private PostgresBenchDatabase(string connectionString, string source, LocalPostgresCluster? ownCluster)
        : base(connectionString, source)
    {
        _ownCluster = ownCluster;
        _dataSource = NpgsqlDataSource.Create(connectionString);
    }

    public override BenchProvider Provider => BenchProvider.Postgres;

    /// <summary>A data source for the harness's own statements (polling, prefill, baselines).</summary>
    public NpgsqlDataSource DataSource => _dataSource;

    public static async Task<PostgresBenchDatabase> StartAsync(BenchOptions options, TextWriter log, CancellationToken cancellationToken)
    {
        string connectionString;
        string source;
        LocalPostgresCluster? cluster = null;
        if (options.Connection is not null)
        {
            connectionString = options.Connection;
            source = "connection";
        }
        else if (options.PostgresSettings.Count > 0)
        {
            var clusterOptions = new LocalPostgresClusterOptions();
            foreach (var (name, value) in options.PostgresSettings)
            {
                clusterOptions.Settings[name] = value;
            }

            await log.WriteLineAsync($"Starting a throwaway PostgreSQL cluster with {string.Join(", ", options.PostgresSettings.Select(s => $"{s.Key}={s.Value}"))} ...");
            cluster = await LocalPostgresCluster.StartAsync(clusterOptions, cancellationToken);
            connectionString = cluster.ConnectionString;
            source = "local";
        }
        else
        {
            await log.WriteLineAsync("Acquiring a PostgreSQL server the way the tests do (OUTBOX_TEST_POSTGRES, Testcontainers, local cluster) ...");
            var server = await PostgresServer.AcquireAsync(cancellationToken);
            connectionString = await server.CreateDatabaseAsync("outbox_bench", cancellationToken);
            source = server.Source;
        }

        if (!string.IsNullOrWhiteSpace(options.ConnectionOptions))
        {
            connectionString = connectionString.TrimEnd(';') + ";" + options.ConnectionOptions;
        }

        // Validate early, with the option named.
        try
        {
            _ = new NpgsqlConnectionStringBuilder(connectionString);
        }
        catch (ArgumentException ex)
        {
            throw new BenchOptionsException($"Option --connection / --connection-options: not a valid Npgsql connection string: {ex.Message}");
        }

        // Attribute the server's CPU separately when it runs on this machine.
        var parsed = new NpgsqlConnectionStringBuilder(connectionString);
        if (parsed.Host is "127.0.0.1" or "localhost" or "::1")
        {
            Reporting.CpuSample.Server = Reporting.ServerProcesses.Find(parsed.Port);
        }

        return new PostgresBenchDatabase(connectionString, source, cluster) { _fillFactor = options.PostgresFillFactor };
    }

    protected override async Task AfterSchemaCreatedAsync(CancellationToken cancellationToken)
    {
        if (_fillFactor is { } fillFactor)
        {
            await using var command = _dataSource.CreateCommand($"ALTER TABLE {Tables.Outbox} SET (fillfactor = {fillFactor})");
            await command.ExecuteNonQueryAsync(cancellationToken);
        }
    }

    public override void Configure(DbContextOptionsBuilder builder) => builder.UseNpgsql(ConnectionString);

    public override async Task<DbConnection> OpenConnectionAsync(CancellationToken cancellationToken) =>
        await _dataSource.OpenConnectionAsync(cancellationToken);

    protected override string SequencesUpsertSql => $"""
        INSERT INTO {Tables.Sequences} AS s (partition_key, last_sequence)
        SELECT partition_key, max(sequence_number) FROM {Tables.Outbox} WHERE partition_key IS NOT NULL GROUP BY partition_key
        ON CONFLICT (partition_key) DO UPDATE SET last_sequence = GREATEST(s.last_sequence, excluded.last_sequence)
        """;

    public override OutboxBuilder UseStore(OutboxBuilder builder) => builder.UsePostgreSql<BenchDbContext>();

    public override async Task<string> ServerVersionAsync(CancellationToken cancellationToken)
    {
        await using var command = _dataSource.CreateCommand("SHOW server_version");
        return (string)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    public override async Task<bool> IsOutboxEmptyAsync(CancellationToken cancellationToken)
    {
        await using var command = _dataSource.CreateCommand($"SELECT NOT EXISTS (SELECT 1 FROM {Tables.Outbox})");
        return (bool)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    public override async Task<long> CountOutboxAsync(CancellationToken cancellationToken)
    {
        await using var command = _dataSource.CreateCommand($"SELECT count(*) FROM {Tables.Outbox}");
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    public override async Task PrepareForRunAsync(CancellationToken cancellationToken)
    {
        await using var command = _dataSource.CreateCommand($"VACUUM (ANALYZE) {Tables.Outbox}");
        command.CommandTimeout = 0;
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    protected override async Task DropSchemaAsync(BenchDbContext context, CancellationToken cancellationToken)
    {
        await using var command = _dataSource.CreateCommand($"DROP SCHEMA IF EXISTS \"{BenchDbContext.PostgresSchema}\" CASCADE");
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    protected override async Task<IBulkOutboxWriter> BeginBulkWriteAsync(IReadOnlyList<OutboxColumn> columns, CancellationToken cancellationToken)
    {
        await using var context = CreateContext();
        var columnList = string.Join(", ", columns.Select(c => Quote(context, c.Name)));
        var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        try
        {
            var transaction = await connection.BeginTransactionAsync(cancellationToken);
            var importer = await connection.BeginBinaryImportAsync($"COPY {Tables.Outbox} ({columnList}) FROM STDIN (FORMAT BINARY)", cancellationToken);
            return new CopyWriter(connection, transaction, importer, columns);
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    public override async ValueTask DisposeAsync()
    {
        await _dataSource.DisposeAsync();
        NpgsqlConnection.ClearAllPools();
        if (_ownCluster is not null)
        {
            await _ownCluster.DisposeAsync();
        }
    }

    /// <summary>Binary COPY, each value written with the store type the model maps its column to.</summary>
    private sealed class CopyWriter(NpgsqlConnection connection, NpgsqlTransaction transaction, NpgsqlBinaryImporter importer, IReadOnlyList<OutboxColumn> columns)
        : IBulkOutboxWriter
    {
        private readonly string[] _types = [.. columns.Select(c => c.Mapping.StoreTypeNameBase)];

        public async ValueTask WriteAsync(OutboxRecord record, CancellationToken cancellationToken)
        {
            await importer.StartRowAsync(cancellationToken);
            for (var i = 0; i < columns.Count; i++)
            {
                var value = columns[i].ValueOf(record);
                if (value is null)
                {
                    await importer.WriteNullAsync(cancellationToken);
                }
                else
                {
                    await importer.WriteAsync(value, _types[i], cancellationToken);
                }
            }
        }

        public async Task CompleteAsync(string? thenSql, CancellationToken cancellationToken)
        {
            await importer.CompleteAsync(cancellationToken);
            await importer.DisposeAsync();
            if (thenSql is not null)
            {
                await using var command = new NpgsqlCommand(thenSql, connection, transaction);
                await command.ExecuteNonQueryAsync(cancellationToken);
            }

            await transaction.CommitAsync(cancellationToken);
        }

        public async ValueTask DisposeAsync()
        {
            await importer.DisposeAsync();
            await transaction.DisposeAsync();
            await connection.DisposeAsync();
        }
    }
}
