using Outbox.EntityFrameworkCore.Tests.Infrastructure;
using Outbox.EntityFrameworkCore.Tests.PostgreSql;
using Outbox.TestInfrastructure;

namespace Outbox.EntityFrameworkCore.Tests.PgBouncer;

/// <summary>
/// The PostgreSQL provider through a real PgBouncer in transaction mode (<see cref="PgBouncerServer"/>), with the
/// library's defaults: every connection string of the test (the DbContext's, hence the dispatcher's and the
/// listener's) goes through the pooler. Each test gets a database of its own, made on the server directly. Skipped
/// with the reason when there is no PostgreSQL server or no pgbouncer binary, unless OUTBOX_TEST_REQUIRE_SERVERS is
/// set (as CI does), in which case the tests fail.
/// </summary>
public sealed class PgBouncerFixture : IDatabaseFixture
{
    public async Task<TestDatabase> CreateDatabaseAsync()
    {
        PgBouncerServer bouncer;
        try
        {
            bouncer = await PgBouncerServer.AcquireAsync(TestContext.Current.CancellationToken);
        }
        catch (ServerUnavailableException ex) when (!ServerRequirement.Required)
        {
            Assert.Skip($"No PgBouncer available (set OUTBOX_TEST_REQUIRE_SERVERS=1 to make this a failure): {ex.Message}");
            throw;
        }

        var (pooled, direct) = await bouncer.CreateDatabaseAsync("outbox_pgb", TestContext.Current.CancellationToken);
        var database = new PostgreSqlTestDatabase(pooled, direct);
        await database.InitializeAsync();
        return database;
    }
}
