using System.Data.Common;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Outbox.Benchmarks.Options;
using Outbox.EntityFrameworkCore;

namespace Outbox.Benchmarks.Infrastructure;

/// <summary>
/// SQLite: the file given by <c>--connection</c>, else a temporary file (deleted afterwards), with the same
/// connection settings as the tests (30 s busy timeout). The journal is switched to WAL up front, as the store does on
/// first use, so that every phase (ours and the baselines) runs in the same journal mode.
/// </summary>
public sealed class SqliteBenchDatabase : BenchDatabase
{
    private readonly string? _ownFile;

    private SqliteBenchDatabase(string connectionString, string source, string? ownFile)
        : base(connectionString, source)
    {
        _ownFile = ownFile;
    }

    public override BenchProvider Provider => BenchProvider.Sqlite;

    public static SqliteBenchDatabase Open(BenchOptions options)
    {
        string? ownFile = null;
        string connectionString;
        string source;
        if (options.Connection is not null)
        {
            connectionString = options.Connection;
            source = "connection";
        }
        else
        {
            ownFile = Path.Combine(Path.GetTempPath(), $"outbox-bench-{Guid.NewGuid():N}.db");
            connectionString = new SqliteConnectionStringBuilder { DataSource = ownFile, DefaultTimeout = 30 }.ToString();
            source = "temp-file";
        }

        if (!string.IsNullOrWhiteSpace(options.ConnectionOptions))
        {
            connectionString = connectionString.TrimEnd(';') + ";" + options.ConnectionOptions;
        }

        try
        {
            _ = new SqliteConnectionStringBuilder(connectionString);
        }
        catch (ArgumentException ex)
        {
            throw new BenchOptionsException($"Option --connection / --connection-options: not a valid SQLite connection string: {ex.Message}");
        }

        return new SqliteBenchDatabase(connectionString, source, ownFile);
    }

    public override void Configure(DbContextOptionsBuilder builder) => builder.UseSqlite(ConnectionString);

    public override OutboxBuilder UseStore(OutboxBuilder builder) => builder.UseSqlite<BenchDbContext>();

    public override async Task<DbConnection> OpenConnectionAsync(CancellationToken cancellationToken) => await OpenSqliteAsync(cancellationToken);

    public async Task<SqliteConnection> OpenSqliteAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(ConnectionString);
        await connection.OpenAsync(cancellationToken);
        return connection;
    }

    protected override string SequencesUpsertSql => $"""
        INSERT INTO {Tables.Sequences} AS s (partition_key, last_sequence)
        SELECT partition_key, max(sequence_number) FROM {Tables.Outbox} WHERE partition_key IS NOT NULL GROUP BY partition_key
        ON CONFLICT (partition_key) DO UPDATE SET last_sequence = max(s.last_sequence, excluded.last_sequence)
        """;

    public override async Task<string> ServerVersionAsync(CancellationToken cancellationToken) =>
        Convert.ToString(await ScalarAsync("SELECT sqlite_version()", cancellationToken))!;

    public override async Task<bool> IsOutboxEmptyAsync(CancellationToken cancellationToken) =>
        Convert.ToInt64(await ScalarAsync($"SELECT NOT EXISTS (SELECT 1 FROM {Tables.Outbox})", cancellationToken)) != 0;

    public override async Task<long> CountOutboxAsync(CancellationToken cancellationToken) =>
        Convert.ToInt64(await ScalarAsync($"SELECT count(*) FROM {Tables.Outbox}", cancellationToken));

    public override async Task PrepareForRunAsync(CancellationToken cancellationToken) =>
        await ScalarAsync("PRAGMA wal_checkpoint(TRUNCATE)", cancellationToken);

    protected override async Task DropSchemaAsync(BenchDbContext context, CancellationToken cancellationToken)
    {
        await ScalarAsync("PRAGMA journal_mode=WAL", cancellationToken);
        foreach (var table in context.Model.GetEntityTypes().Select(e => e.GetTableName()).Distinct())
        {
            await ScalarAsync($"DROP TABLE IF EXISTS {Quote(context, table!)}", cancellationToken);
        }
    }

    protected override async Task<IBulkOutboxWriter> BeginBulkWriteAsync(IReadOnlyList<OutboxColumn> columns, CancellationToken cancellationToken)
    {
        await using var context = CreateContext();
        var connection = await OpenSqliteAsync(cancellationToken);
        var transaction = connection.BeginTransaction(deferred: false);
        var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText =
            $"INSERT INTO {Tables.Outbox} ({string.Join(", ", columns.Select(c => Quote(context, c.Name)))}) " +
            $"VALUES ({string.Join(", ", columns.Select((_, i) => $"$p{i}"))})";
        return new InsertWriter(connection, transaction, command, columns);
    }

    private async Task<object?> ScalarAsync(string sql, CancellationToken cancellationToken)
    {
        await using var connection = await OpenSqliteAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        return await command.ExecuteScalarAsync(cancellationToken);
    }

    public override ValueTask DisposeAsync()
    {
        SqliteConnection.ClearAllPools();
        if (_ownFile is not null)
        {
            foreach (var suffix in new[] { "", "-wal", "-shm" })
            {
                File.Delete(_ownFile + suffix);
            }
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// A prepared INSERT in one transaction. Each parameter is made by the column's EF type mapping, exactly as
    /// <c>SaveChanges</c> makes it (EF writes Guids and DateTimes to SQLite as text in its own formats).
    /// </summary>
    private sealed class InsertWriter(SqliteConnection connection, SqliteTransaction transaction, SqliteCommand command, IReadOnlyList<OutboxColumn> columns)
        : IBulkOutboxWriter
    {
        public async ValueTask WriteAsync(OutboxRecord record, CancellationToken cancellationToken)
        {
            command.Parameters.Clear();
            for (var i = 0; i < columns.Count; i++)
            {
                var column = columns[i];
                command.Parameters.Add(column.Mapping.CreateParameter(command, $"$p{i}", column.ValueOf(record), column.Property.IsNullable));
            }

            await command.ExecuteNonQueryAsync(cancellationToken);
        }

        public async Task CompleteAsync(string? thenSql, CancellationToken cancellationToken)
        {
            if (thenSql is not null)
            {
                await using var then = connection.CreateCommand();
                then.Transaction = transaction;
                then.CommandText = thenSql;
                await then.ExecuteNonQueryAsync(cancellationToken);
            }

            await transaction.CommitAsync(cancellationToken);
        }

        public async ValueTask DisposeAsync()
        {
            await command.DisposeAsync();
            await transaction.DisposeAsync();
            await connection.DisposeAsync();
        }
    }
}
