using Microsoft.Data.Sqlite;
using Npgsql;
using Outbox.Benchmarks.Infrastructure;

namespace Outbox.Benchmarks.Baselines;

/// <summary>
/// The naive outbox many teams write first: one row per transaction. BEGIN; SELECT the oldest row
/// (<c>FOR UPDATE SKIP LOCKED</c> on PostgreSQL, under <c>BEGIN IMMEDIATE</c> on SQLite); "send" it (the null
/// transport: nothing); DELETE it; COMMIT. Same table and number of connections as the library run.
/// </summary>
public static class NaiveOutbox
{
    public static Task<BaselineResult> RunAsync(BenchDatabase database, int connections, TextWriter log, CancellationToken cancellationToken) =>
        database switch
        {
            PostgresBenchDatabase pg => BaselineRun.RunAsync("naive", connections, (c, ct) => PostgresLoopAsync(pg, c, ct), log, cancellationToken),
            SqliteBenchDatabase sqlite => BaselineRun.RunAsync("naive", connections, (c, ct) => SqliteLoopAsync(sqlite, c, ct), log, cancellationToken),
            _ => throw new NotSupportedException(database.GetType().Name),
        };

    private static async Task PostgresLoopAsync(PostgresBenchDatabase database, BaselineRun.Counters counters, CancellationToken cancellationToken)
    {
        var t = database.Tables.Outbox;
        await using var connection = await database.DataSource.OpenConnectionAsync(cancellationToken);
        await using var select = new NpgsqlCommand($"SELECT {RawSqlCeiling.Columns} FROM {t} ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED", connection);
        await using var delete = new NpgsqlCommand($"DELETE FROM {t} WHERE id = $1", connection);
        var id = new NpgsqlParameter<long>();
        delete.Parameters.Add(id);
        while (true)
        {
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            long? claimed = null;
            await using (var reader = await select.ExecuteReaderAsync(cancellationToken))
            {
                if (await reader.ReadAsync(cancellationToken))
                {
                    RawSqlCeiling.ReadRow(reader);
                    claimed = reader.GetInt64(0);
                }
            }

            if (claimed is null)
            {
                await transaction.CommitAsync(cancellationToken);
                return;
            }

            // "Send" through the null transport: nothing to do.
            id.TypedValue = claimed.Value;
            await delete.ExecuteNonQueryAsync(cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            counters.Add(1);
        }
    }

    private static async Task SqliteLoopAsync(SqliteBenchDatabase database, BaselineRun.Counters counters, CancellationToken cancellationToken)
    {
        var t = database.Tables.Outbox;
        await using var connection = await database.OpenSqliteAsync(cancellationToken);
        while (true)
        {
            await using var transaction = connection.BeginTransaction(deferred: false);
            await using var select = connection.CreateCommand();
            select.Transaction = transaction;
            select.CommandText = $"SELECT {RawSqlCeiling.Columns} FROM {t} ORDER BY id LIMIT 1";
            long? claimed = null;
            await using (var reader = await select.ExecuteReaderAsync(cancellationToken))
            {
                if (await reader.ReadAsync(cancellationToken))
                {
                    RawSqlCeiling.ReadRow(reader);
                    claimed = reader.GetInt64(0);
                }
            }

            if (claimed is null)
            {
                await transaction.CommitAsync(cancellationToken);
                return;
            }

            await using var delete = connection.CreateCommand();
            delete.Transaction = transaction;
            delete.CommandText = $"DELETE FROM {t} WHERE id = $id";
            delete.Parameters.AddWithValue("$id", claimed.Value);
            await delete.ExecuteNonQueryAsync(cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            counters.Add(1);
        }
    }
}
