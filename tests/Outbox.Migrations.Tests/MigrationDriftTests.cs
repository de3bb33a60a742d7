using System.Data.Common;
using System.Text.RegularExpressions;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Npgsql;
using Outbox.EntityFrameworkCore;
using Outbox.TestInfrastructure;

namespace Outbox.Migrations.Tests;

/// <summary>
/// The upgrade path of a team that applies the SQL scripts by hand: the scripts of the first version as shipped
/// (<c>001-Initial.sql</c>), then each delta script in order, must give exactly the schema the current EF model creates
/// (<c>EnsureCreated</c>, which reads the model and no migration): the same tables, columns, types, nullability,
/// defaults, keys, indexes (with their filters) and PostgreSQL storage parameters, and the schema version rows. So does
/// the cumulative <c>outbox.sql</c> applied over the first version.
/// </summary>
public sealed partial class MigrationDriftTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task SqliteDeltaScripts_AppliedOverVersion1_GiveTheSchemaOfTheModel()
    {
        using var folder = new TempFolder();
        var expected = await SqliteSchemaFromModelAsync(folder.File("model.db"));

        var upgraded = folder.File("upgraded.db");
        foreach (var script in DeltaScripts("sqlite"))
        {
            await ExecuteSqliteAsync(upgraded, script);
        }

        Assert.Equal(expected, await DescribeSqliteAsync(upgraded));
    }

    [Fact]
    public async Task SqliteCumulativeScript_AppliedOverVersion1_GivesTheSchemaOfTheModel()
    {
        using var folder = new TempFolder();
        var expected = await SqliteSchemaFromModelAsync(folder.File("model.db"));

        var upgraded = folder.File("upgraded.db");
        await ExecuteSqliteAsync(upgraded, DeltaScripts("sqlite")[0]);
        await ExecuteSqliteAsync(upgraded, Committed(OutboxScripts.RelativePath("sqlite")));

        Assert.Equal(expected, await DescribeSqliteAsync(upgraded));
    }

    [Fact]
    public async Task PostgreSqlDeltaScripts_AppliedOverVersion1_GiveTheSchemaOfTheModel()
    {
        var server = await PostgresServer.AcquireAsync(Ct);
        var expected = await PostgreSqlSchemaFromModelAsync(await server.CreateDatabaseAsync("outbox_model", Ct));

        var upgraded = await server.CreateDatabaseAsync("outbox_upgraded", Ct);
        foreach (var script in DeltaScripts("postgresql"))
        {
            await ExecutePostgreSqlAsync(upgraded, script);
        }

        Assert.Equal(expected, await DescribePostgreSqlAsync(upgraded));
    }

    [Fact]
    public async Task PostgreSqlCumulativeScript_AppliedOverVersion1_GivesTheSchemaOfTheModel()
    {
        var server = await PostgresServer.AcquireAsync(Ct);
        var expected = await PostgreSqlSchemaFromModelAsync(await server.CreateDatabaseAsync("outbox_model", Ct));

        var upgraded = await server.CreateDatabaseAsync("outbox_upgraded", Ct);
        await ExecutePostgreSqlAsync(upgraded, DeltaScripts("postgresql")[0]);
        await ExecutePostgreSqlAsync(upgraded, Committed(OutboxScripts.RelativePath("postgresql")));

        Assert.Equal(expected, await DescribePostgreSqlAsync(upgraded));
    }

    /// <summary>The committed delta scripts in order: 001 (the first version as shipped), 002, ...</summary>
    private static List<string> DeltaScripts(string provider)
    {
        var scripts = Enumerable.Range(1, OutboxSchemaVersion.Current)
            .Select(version => Committed(OutboxScripts.DeltaRelativePath(provider, version)))
            .ToList();
        Assert.True(scripts.Count >= 2, "Version 1 and at least one delta are expected.");
        return scripts;
    }

    private static string Committed(string relativePath) =>
        File.ReadAllText(Path.Combine(MigrationScriptTests.RepositoryRoot(), "migrations", relativePath));

    private static async Task<List<string>> SqliteSchemaFromModelAsync(string path)
    {
        await using (var context = new SqliteOutboxContext(new DbContextOptionsBuilder<SqliteOutboxContext>().UseSqlite($"Data Source={path}").Options))
        {
            Assert.True(await context.Database.EnsureCreatedAsync(Ct));
        }

        var schema = await DescribeSqliteAsync(path);
        Assert.Contains(schema, line => line.StartsWith("column outbox_messages.payload ", StringComparison.Ordinal));
        Assert.Contains($"row outbox_messages_schema version={OutboxSchemaVersion.Current}", schema);
        Assert.Contains($"row inbox_messages_schema version={OutboxSchemaVersion.Current}", schema);
        return schema;
    }

    private static async Task<List<string>> PostgreSqlSchemaFromModelAsync(string connectionString)
    {
        await using (var context = new PostgreSqlOutboxContext(new DbContextOptionsBuilder<PostgreSqlOutboxContext>().UseNpgsql(connectionString).Options))
        {
            Assert.True(await context.Database.EnsureCreatedAsync(Ct));
        }

        var schema = await DescribePostgreSqlAsync(connectionString);
        Assert.Contains(schema, line => line.StartsWith("column outbox_messages.payload ", StringComparison.Ordinal));
        Assert.Contains(schema, line => line.StartsWith("options outbox_messages ", StringComparison.Ordinal) && line.Contains("fillfactor=50", StringComparison.Ordinal));
        Assert.Contains($"row outbox_messages_schema version={OutboxSchemaVersion.Current}", schema);
        Assert.Contains($"row inbox_messages_schema version={OutboxSchemaVersion.Current}", schema);
        return schema;
    }

    private static async Task ExecuteSqliteAsync(string path, string script)
    {
        await using var connection = new SqliteConnection($"Data Source={path};Pooling=False");
        await connection.OpenAsync(Ct);
        await using var command = connection.CreateCommand();
        command.CommandText = script;
        await command.ExecuteNonQueryAsync(Ct);
    }

    private static async Task ExecutePostgreSqlAsync(string connectionString, string script)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(Ct);
        await using var command = new NpgsqlCommand(script, connection);
        await command.ExecuteNonQueryAsync(Ct);
    }

    /// <summary>
    /// The schema as sorted lines, independent of the order columns were added in: per table its columns (type, not
    /// null, default, primary key position), its indexes (unique, partial, columns and the normalized CREATE INDEX
    /// text, which carries the filter), whether its key is AUTOINCREMENT; and the schema version row.
    /// </summary>
    private static async Task<List<string>> DescribeSqliteAsync(string path)
    {
        await using var connection = new SqliteConnection($"Data Source={path};Pooling=False");
        await connection.OpenAsync(Ct);
        var lines = new List<string>();
        var tables = await ReadAsync(connection, "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> '__EFMigrationsHistory'");
        foreach (var table in tables)
        {
            var name = table[0];
            lines.Add($"table {name} autoincrement={table[1].Contains("AUTOINCREMENT", StringComparison.OrdinalIgnoreCase)}");
            foreach (var column in await ReadAsync(connection, $"SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info('{name}')"))
            {
                lines.Add($"column {name}.{column[0]} {column[1]} notnull={column[2]} default={column[3]} pk={column[4]}");
            }

            foreach (var index in await ReadAsync(connection, $"SELECT name, \"unique\", origin, partial FROM pragma_index_list('{name}')"))
            {
                var columns = await ReadAsync(connection, $"SELECT name FROM pragma_index_info('{index[0]}') ORDER BY seqno");
                lines.Add($"index {name}.{index[0]} unique={index[1]} origin={index[2]} partial={index[3]} ({string.Join(", ", columns.Select(c => c[0]))})");
            }
        }

        foreach (var index in await ReadAsync(connection, "SELECT tbl_name, name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"))
        {
            lines.Add($"index-sql {index[0]}.{index[1]} {Whitespace().Replace(index[2].Replace("IF NOT EXISTS ", "", StringComparison.Ordinal), " ")}");
        }

        await AddVersionRowAsync(connection, lines);
        lines.Sort(StringComparer.Ordinal);
        return lines;
    }

    /// <summary>
    /// The schema of <c>public</c> as sorted lines: columns (type, length, nullability, default, identity), index
    /// definitions, constraints, table storage parameters; and the schema version row.
    /// </summary>
    private static async Task<List<string>> DescribePostgreSqlAsync(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(Ct);
        const string Sql = """
            SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || coalesce('(' || character_maximum_length || ')', '')
                   || ' nullable=' || is_nullable || ' default=' || coalesce(column_default, '') || ' identity=' || is_identity
                   || coalesce(' ' || identity_generation, '')
              FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> '__EFMigrationsHistory'
            UNION ALL
            SELECT 'index ' || tablename || ' ' || indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename <> '__EFMigrationsHistory'
            UNION ALL
            SELECT 'constraint ' || c.relname || ' ' || k.conname || ' ' || pg_get_constraintdef(k.oid)
              FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
             WHERE k.connamespace = 'public'::regnamespace AND c.relname <> '__EFMigrationsHistory'
            UNION ALL
            SELECT 'options ' || relname || ' ' || coalesce(array_to_string(reloptions, ','), '')
              FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' AND relname <> '__EFMigrationsHistory'
            """;
        var lines = (await ReadAsync(connection, Sql)).Select(r => r[0]).ToList();
        await AddVersionRowAsync(connection, lines);
        lines.Sort(StringComparer.Ordinal);
        return lines;
    }

    private static async Task AddVersionRowAsync(DbConnection connection, List<string> lines)
    {
        foreach (var table in new[] { OutboxSchemaVersion.TableFor("outbox_messages"), OutboxSchemaVersion.TableFor("inbox_messages") })
        {
            foreach (var row in await ReadAsync(connection, $"SELECT id, version FROM {table}"))
            {
                lines.Add($"row {table} version={row[1]}");
            }
        }
    }

    private static async Task<List<string[]>> ReadAsync(DbConnection connection, string sql)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await using var reader = await command.ExecuteReaderAsync(Ct);
        var rows = new List<string[]>();
        while (await reader.ReadAsync(Ct))
        {
            rows.Add(Enumerable.Range(0, reader.FieldCount).Select(i => reader.IsDBNull(i) ? "" : Convert.ToString(reader.GetValue(i), System.Globalization.CultureInfo.InvariantCulture)!).ToArray());
        }

        return rows;
    }

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();

    private sealed class TempFolder : IDisposable
    {
        private readonly string _path = Directory.CreateTempSubdirectory("outbox-drift-").FullName;

        public string File(string name) => Path.Combine(_path, name);

        public void Dispose()
        {
            SqliteConnection.ClearAllPools();
            Directory.Delete(_path, recursive: true);
        }
    }
}
