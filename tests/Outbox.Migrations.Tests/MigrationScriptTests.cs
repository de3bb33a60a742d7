using System.Globalization;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Metadata;
using Npgsql;
using Outbox.EntityFrameworkCore;
using Outbox.TestInfrastructure;

namespace Outbox.Migrations.Tests;

/// <summary>
/// The SQL scripts in migrations/ for DBAs who apply SQL by hand must say what the library's EF model says: a change to
/// AddOutbox()/AddInbox() without a new migration, or a migration without regenerated scripts, fails here.
/// </summary>
public sealed class MigrationScriptTests
{
    private const string Regenerate = "Regenerate as migrations/README.md says: add a migration per provider, then `dotnet run --project migrations/Outbox.Migrations`.";

    public static TheoryData<string> Providers => new(OutboxScripts.Providers);

    [Theory]
    [MemberData(nameof(Providers))]
    public void Model_HasNoChangesMissingFromTheMigrations(string provider)
    {
        using var context = OutboxScripts.CreateContext(provider);
        Assert.False(context.Database.HasPendingModelChanges(), $"The {provider} model of AddOutbox()+AddInbox() has changes no migration covers. {Regenerate}");
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public void Script_Committed_IsWhatTheMigrationsGenerate(string provider)
    {
        foreach (var (relativePath, generated) in OutboxScripts.All(provider))
        {
            var path = Path.Combine(RepositoryRoot(), "migrations", relativePath);
            Assert.True(File.Exists(path), $"{path} is missing. {Regenerate}");
            var committed = File.ReadAllText(path).ReplaceLineEndings("\n").TrimStart('\uFEFF');
            Assert.True(committed == generated, $"{path} differs from what the migrations generate. {Regenerate}");
        }
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public void SchemaVersion_OfTheLibrary_IsTheNumberOfMigrationsAndNamesTheirDeltaScripts(string provider)
    {
        // The start-up check names the delta scripts from OutboxSchemaVersion.Deltas; they must be the files in migrations/.
        var migrations = OutboxScripts.Migrations(provider);
        Assert.Equal(OutboxSchemaVersion.Current, migrations.Count);
        Assert.Equal(
            migrations.Select((id, i) => (i + 1, OutboxScripts.DeltaFileName(i + 1, id))),
            OutboxSchemaVersion.Deltas.Select(d => (d.Version, d.Script)));
        foreach (var (version, _) in OutboxSchemaVersion.Deltas)
        {
            Assert.True(File.Exists(Path.Combine(RepositoryRoot(), "migrations", OutboxScripts.DeltaRelativePath(provider, version))));
        }
    }

    [Fact]
    public void PostgreSqlScript_CarriesEveryStorageParameterOfTheModel()
    {
        using var context = OutboxScripts.CreateContext("postgresql");
        var script = OutboxScripts.Generate("postgresql");
        // The design-time model: the runtime model drops annotations only migrations need.
        var parameters = context.GetService<IDesignTimeModel>().Model.GetEntityTypes()
            .SelectMany(e => e.GetAnnotations().Select(a => (Table: e.GetTableName()!, a.Name, a.Value)))
            .Where(a => a.Name.StartsWith("Npgsql:StorageParameter:", StringComparison.Ordinal))
            .ToList();

        Assert.Contains(parameters, p => p.Name.EndsWith("autovacuum_vacuum_scale_factor", StringComparison.Ordinal));
        foreach (var (table, name, value) in parameters)
        {
            var setting = $"{name["Npgsql:StorageParameter:".Length..]}={Convert.ToString(value, CultureInfo.InvariantCulture)}";
            Assert.True(script.Contains(setting, StringComparison.Ordinal), $"The script does not set {setting} on {table}.");
        }
    }

    [Fact]
    public async Task SqliteScript_AppliedTwice_CreatesTheTablesOnce()
    {
        var path = Path.Combine(Path.GetTempPath(), $"outbox-migrations-{Guid.NewGuid():N}.db");
        try
        {
            var script = OutboxScripts.Generate("sqlite");
            await using (var connection = new SqliteConnection($"Data Source={path}"))
            {
                await connection.OpenAsync(TestContext.Current.CancellationToken);
                for (var i = 0; i < 2; i++)
                {
                    await using var command = connection.CreateCommand();
                    command.CommandText = script;
                    await command.ExecuteNonQueryAsync(TestContext.Current.CancellationToken);
                }
            }

            // A context on that database sees its migrations applied and can use the tables.
            await using var context = new SqliteOutboxContext(
                new DbContextOptionsBuilder<SqliteOutboxContext>().UseSqlite($"Data Source={path}").Options);
            Assert.Empty(await context.Database.GetPendingMigrationsAsync(TestContext.Current.CancellationToken));
            Assert.Equal(0, await context.Set<OutboxRecord>().CountAsync(TestContext.Current.CancellationToken));
            Assert.Equal(0, await context.Set<InboxRecord>().CountAsync(TestContext.Current.CancellationToken));
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            File.Delete(path);
        }
    }

    [Fact]
    public async Task PostgreSqlScript_AppliedTwice_CreatesTheTablesOnceWithTheirStorageParameters()
    {
        PostgresServer server;
        try
        {
            server = await PostgresServer.AcquireAsync(TestContext.Current.CancellationToken);
        }
        catch (ServerUnavailableException ex) when (!ServerRequirement.Required)
        {
            Assert.Skip($"No PostgreSQL server available: {ex.Message}");
            throw;
        }

        var connectionString = await server.CreateDatabaseAsync("outbox_migrations", TestContext.Current.CancellationToken);
        var script = OutboxScripts.Generate("postgresql");
        await using (var connection = new NpgsqlConnection(connectionString))
        {
            await connection.OpenAsync(TestContext.Current.CancellationToken);
            for (var i = 0; i < 2; i++)
            {
                await using var command = new NpgsqlCommand(script, connection);
                await command.ExecuteNonQueryAsync(TestContext.Current.CancellationToken);
            }

            await using var options = new NpgsqlCommand("SELECT array_to_string(reloptions, ',') FROM pg_class WHERE relname = 'outbox_messages'", connection);
            var reloptions = (string?)await options.ExecuteScalarAsync(TestContext.Current.CancellationToken);
            Assert.Contains("autovacuum_vacuum_scale_factor=0.01", reloptions, StringComparison.Ordinal);
            Assert.Contains("fillfactor=50", reloptions, StringComparison.Ordinal);
        }

        await using var context = new PostgreSqlOutboxContext(
            new DbContextOptionsBuilder<PostgreSqlOutboxContext>().UseNpgsql(connectionString).Options);
        Assert.Empty(await context.Database.GetPendingMigrationsAsync(TestContext.Current.CancellationToken));
        Assert.Equal(0, await context.Set<OutboxRecord>().CountAsync(TestContext.Current.CancellationToken));
    }

    internal static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Outbox.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"No Outbox.sln above {AppContext.BaseDirectory}.");
    }
}
