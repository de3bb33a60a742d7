using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.DependencyInjection;
using Outbox.EntityFrameworkCore.Tests.Infrastructure;

namespace Outbox.EntityFrameworkCore.Tests.Sqlite;

/// <summary>Real SQLite, file-based: every test gets a database file of its own in a temp folder.</summary>
public sealed class SqliteFixture : IDatabaseFixture
{
    public async Task<TestDatabase> CreateDatabaseAsync()
    {
        var database = new SqliteTestDatabase(Path.Combine(Path.GetTempPath(), $"outbox-test-{Guid.NewGuid():N}.db"));
        await database.InitializeAsync();
        return database;
    }
}

public sealed class SqliteTestDatabase(string path) : TestDatabase
{
    public string ConnectionString { get; } = new SqliteConnectionStringBuilder { DataSource = path, DefaultTimeout = 30 }.ToString();

    public override string ProviderName => "SQLite";

    public override void Configure(DbContextOptionsBuilder builder, bool retrying = false) =>
        builder.UseSqlite(ConnectionString, sqlite =>
        {
            if (retrying)
            {
                sqlite.ExecutionStrategy(d => new TestRetryingStrategy(d));
            }
        });

    public override OutboxBuilder UseStore(OutboxBuilder builder, bool notifications = true) => builder.UseSqlite<TestDbContext>();

    public override ValueTask DisposeAsync()
    {
        SqliteConnection.ClearAllPools();
        foreach (var suffix in new[] { "", "-wal", "-shm" })
        {
            File.Delete(path + suffix);
        }

        return ValueTask.CompletedTask;
    }

    private sealed class TestRetryingStrategy(ExecutionStrategyDependencies dependencies)
        : ExecutionStrategy(dependencies, maxRetryCount: 3, maxRetryDelay: TimeSpan.FromMilliseconds(10))
    {
        protected override bool ShouldRetryOn(Exception exception) => exception is SimulatedTransientException;
    }
}
