using System.Globalization;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Npgsql;
using Outbox.EntityFrameworkCore;

namespace Outbox.Benchmarks.Infrastructure;

/// <summary>
/// How big and how dirty the outbox table is at one moment: what <c>soak</c> and <c>xmin</c> watch for bloat.
/// PostgreSQL: heap, index and total size of the outbox table (<c>pg_relation_size</c>, <c>pg_indexes_size</c>,
/// <c>pg_total_relation_size</c>), live and dead tuples and the vacuum counters from <c>pg_stat_user_tables</c>
/// (estimates, flushed by the backends about once a second). SQLite: the outbox table's and its indexes' pages
/// (<c>dbstat</c>, when compiled in: the e_sqlite3 bundle does not), the whole file, its free pages, the pages in use
/// (file - free, all tables: in these benchmarks only the outbox is busy) and the WAL file's size. A field the provider
/// has no equivalent for is <see langword="null"/>.
/// </summary>
public sealed record TableStats(
    long? TableBytes,
    long? IndexBytes,
    long? TotalBytes,
    long? LiveTuples,
    long? DeadTuples,
    long? AutovacuumCount,
    long? AutoanalyzeCount,
    DateTime? LastAutovacuum,
    long? FileBytes,
    long? FreeBytes,
    long? WalBytes)
{
    public static double? Megabytes(long? bytes) => bytes / (1024.0 * 1024.0);

    public static Task<TableStats> ReadAsync(BenchDatabase database, CancellationToken cancellationToken) => database switch
    {
        PostgresBenchDatabase pg => ReadPostgresAsync(pg, cancellationToken),
        SqliteBenchDatabase sqlite => ReadSqliteAsync(sqlite, cancellationToken),
        _ => throw new NotSupportedException(database.GetType().Name),
    };

    private static async Task<TableStats> ReadPostgresAsync(PostgresBenchDatabase database, CancellationToken cancellationToken)
    {
        // The delimited, schema-qualified name the stores use is also a valid regclass literal.
        await using var command = database.DataSource.CreateCommand("""
            SELECT pg_relation_size(c.oid), pg_indexes_size(c.oid), pg_total_relation_size(c.oid),
                   s.n_live_tup, s.n_dead_tup, s.autovacuum_count, s.autoanalyze_count, s.last_autovacuum
            FROM pg_class AS c
            LEFT JOIN pg_stat_user_tables AS s ON s.relid = c.oid
            WHERE c.oid = $1::regclass
            """);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = database.Tables.Outbox });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            throw new InvalidOperationException($"No statistics for {database.Tables.Outbox}.");
        }

        long? Long(int i) => reader.IsDBNull(i) ? null : reader.GetInt64(i);
        return new TableStats(
            TableBytes: Long(0),
            IndexBytes: Long(1),
            TotalBytes: Long(2),
            LiveTuples: Long(3),
            DeadTuples: Long(4),
            AutovacuumCount: Long(5),
            AutoanalyzeCount: Long(6),
            LastAutovacuum: reader.IsDBNull(7) ? null : reader.GetDateTime(7),
            FileBytes: null,
            FreeBytes: null,
            WalBytes: null);
    }

    private static async Task<TableStats> ReadSqliteAsync(SqliteBenchDatabase database, CancellationToken cancellationToken)
    {
        string table;
        await using (var context = database.CreateContext())
        {
            table = context.Model.FindEntityType(typeof(OutboxRecord))?.GetTableName() ?? "outbox";
        }

        await using var connection = await database.OpenSqliteAsync(cancellationToken);
        async Task<long?> ScalarAsync(string sql)
        {
            await using var command = connection.CreateCommand();
            command.CommandText = sql;
            command.Parameters.AddWithValue("$table", table);
            var value = await command.ExecuteScalarAsync(cancellationToken);
            return value is null or DBNull ? null : Convert.ToInt64(value, CultureInfo.InvariantCulture);
        }

        var pageSize = await ScalarAsync("PRAGMA page_size") ?? 4096;
        var pages = await ScalarAsync("PRAGMA page_count");
        var free = await ScalarAsync("PRAGMA freelist_count");
        long? tableBytes = null;
        long? indexBytes = null;
        try
        {
            // dbstat in aggregate mode walks only the b-trees asked for.
            tableBytes = await ScalarAsync("SELECT pgsize FROM dbstat('main', 1) WHERE name = $table");
            indexBytes = await ScalarAsync(
                "SELECT coalesce(sum(d.pgsize), 0) FROM sqlite_schema AS s JOIN dbstat('main', 1) AS d ON d.name = s.name " +
                "WHERE s.type = 'index' AND s.tbl_name = $table");
        }
        catch (SqliteException)
        {
            // dbstat not compiled in: only the file-level figures.
        }

        var file = new SqliteConnectionStringBuilder(database.ConnectionString).DataSource;
        var wal = new FileInfo(file + "-wal");
        return new TableStats(
            TableBytes: tableBytes,
            IndexBytes: indexBytes,
            TotalBytes: tableBytes + indexBytes ?? (pages - free) * pageSize,
            LiveTuples: null,
            DeadTuples: null,
            AutovacuumCount: null,
            AutoanalyzeCount: null,
            LastAutovacuum: null,
            FileBytes: pages * pageSize,
            FreeBytes: free * pageSize,
            WalBytes: wal.Exists ? wal.Length : 0);
    }
}
