using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.DependencyInjection;
using Npgsql.EntityFrameworkCore.PostgreSQL;
using Outbox.EntityFrameworkCore.Tests.Infrastructure;
using Outbox.TestInfrastructure;

namespace Outbox.EntityFrameworkCore.Tests.PostgreSql;

/// <summary>
/// Real PostgreSQL: from OUTBOX_TEST_POSTGRES, else Testcontainers, else a throwaway local cluster. Every test gets
/// a database of its own. When no server can be found the tests are skipped with the reason, unless
/// OUTBOX_TEST_REQUIRE_SERVERS is set (as CI does), in which case they fail.
/// </summary>
public sealed class PostgreSqlFixture : IDatabaseFixture
{
    public async Task<TestDatabase> CreateDatabaseAsync()
    {
        PostgresServer server;
        try
        {
            server = await PostgresServer.AcquireAsync(TestContext.Current.CancellationToken);
        }
        catch (ServerUnavailableException ex) when (!ServerRequirement.Required)
        {
            Assert.Skip($"No PostgreSQL server available (set OUTBOX_TEST_REQUIRE_SERVERS=1 to make this a failure): {ex.Message}");
            throw;
        }

        var database = new PostgreSqlTestDatabase(await server.CreateDatabaseAsync("outbox_test", TestContext.Current.CancellationToken));
        await database.InitializeAsync();
        return database;
    }
}

/// <summary>A test database on PostgreSQL, reached through <see cref="ConnectionString"/> (which may go through a pooler).</summary>
public sealed class PostgreSqlTestDatabase(string connectionString, string? directConnectionString = null) : TestDatabase
{
    public string ConnectionString { get; } = connectionString;

    /// <summary>The same database without a pooler in between: <see cref="ConnectionString"/> unless that goes through one.</summary>
    public string DirectConnectionString { get; } = directConnectionString ?? connectionString;

    public override string ProviderName => "PostgreSQL";

    public override void Configure(DbContextOptionsBuilder builder, bool retrying = false) =>
        builder.UseNpgsql(ConnectionString, npgsql =>
        {
            if (retrying)
            {
                npgsql.ExecutionStrategy(d => new TestNpgsqlRetryingStrategy(d));
            }
        });

    public override OutboxBuilder UseStore(OutboxBuilder builder, bool notifications = true) =>
        builder.UsePostgreSql<TestDbContext>(o => o.Notifications = notifications);

    public override ValueTask DisposeAsync()
    {
        Npgsql.NpgsqlConnection.ClearAllPools();
        return ValueTask.CompletedTask;
    }

    /// <summary>Npgsql's retrying strategy, also retrying the test's simulated transient failure.</summary>
    private sealed class TestNpgsqlRetryingStrategy(ExecutionStrategyDependencies dependencies)
        : NpgsqlRetryingExecutionStrategy(dependencies, maxRetryCount: 3, maxRetryDelay: TimeSpan.FromMilliseconds(10), errorCodesToAdd: null)
    {
        protected override bool ShouldRetryOn(Exception? exception) => exception is SimulatedTransientException || base.ShouldRetryOn(exception);
    }
}
