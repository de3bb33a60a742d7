using Microsoft.Data.Sqlite;
using Npgsql;
using Outbox.Benchmarks.Infrastructure;
using Outbox.EntityFrameworkCore;

namespace Outbox.Benchmarks.Baselines;

/// <summary>
/// The raw-SQL ceiling: no library code, the same table, batch size and number of connections; each connection loops
/// ONE statement that claims and deletes a batch and returns its rows (the same columns a claim returns), until the
/// table is empty. It skips everything an outbox needs beyond that (leases, a separate acknowledgement after the
/// send), so it bounds what any outbox on this database and machine can do.
/// </summary>
public static class RawSqlCeiling
{
    /// <summary>The columns a claim returns (the library's published list, so the ceiling reads the same data).</summary>
    internal static readonly string Columns = OutboxRowReader.ColumnList();

    public static Task<BaselineResult> RunAsync(BenchDatabase database, int connections, int batch, TextWriter log, CancellationToken cancellationToken) =>
        database switch
        {
            PostgresBenchDatabase pg => BaselineRun.RunAsync("ceiling", connections, (c, ct) => PostgresLoopAsync(pg, batch, c, ct), log, cancellationToken),
            SqliteBenchDatabase sqlite => BaselineRun.RunAsync("ceiling", connections, (c, ct) => SqliteLoopAsync(sqlite, batch, c, ct), log, cancellationToken),
            _ => throw new NotSupportedException(database.GetType().Name),
        };

    /// <summary>Autocommit <c>DELETE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING</c>.</summary>
    private static async Task PostgresLoopAsync(PostgresBenchDatabase database, int batch, BaselineRun.Counters counters, CancellationToken cancellationToken)
    {
        var t = database.Tables.Outbox;
        await using var connection = await database.DataSource.OpenConnectionAsync(cancellationToken);
        await using var command = new NpgsqlCommand(
            $"DELETE FROM {t} WHERE id IN (SELECT id FROM {t} ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) RETURNING {Columns}",
            connection);
        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = batch });
        while (true)
        {
            var rows = 0;
            await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
            {
                while (await reader.ReadAsync(cancellationToken))
                {
                    ReadRow(reader);
                    rows++;
                }
            }

            if (rows == 0)
            {
                return;
            }

            counters.Add(rows);
        }
    }

    /// <summary><c>BEGIN IMMEDIATE</c>; <c>DELETE ... WHERE id IN (SELECT ... LIMIT n) RETURNING</c>; <c>COMMIT</c>.</summary>
    private static async Task SqliteLoopAsync(SqliteBenchDatabase database, int batch, BaselineRun.Counters counters, CancellationToken cancellationToken)
    {
        var t = database.Tables.Outbox;
        await using var connection = await database.OpenSqliteAsync(cancellationToken);
        while (true)
        {
            var rows = 0;
            await using (var transaction = connection.BeginTransaction(deferred: false))
            {
                await using var command = connection.CreateCommand();
                command.Transaction = transaction;
                command.CommandText = $"DELETE FROM {t} WHERE id IN (SELECT id FROM {t} ORDER BY id LIMIT $batch) RETURNING {Columns}";
                command.Parameters.AddWithValue("$batch", batch);
                await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
                {
                    while (await reader.ReadAsync(cancellationToken))
                    {
                        ReadRow(reader);
                        rows++;
                    }
                }

                await transaction.CommitAsync(cancellationToken);
            }

            if (rows == 0)
            {
                return;
            }

            counters.Add(rows);
        }
    }

    /// <summary>Materialises every column, as a dispatcher must before it can send.</summary>
    internal static void ReadRow(System.Data.Common.DbDataReader reader)
    {
        for (var i = 0; i < reader.FieldCount; i++)
        {
            _ = reader.IsDBNull(i) ? null : reader.GetValue(i);
        }
    }
}
