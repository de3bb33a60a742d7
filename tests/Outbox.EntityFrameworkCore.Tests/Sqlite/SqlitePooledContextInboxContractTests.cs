using Outbox.EntityFrameworkCore.Tests.Contract;

namespace Outbox.EntityFrameworkCore.Tests.Sqlite;

/// <summary>The SQLite inbox contract with the consumer's context registered by <c>AddDbContextPool</c>.</summary>
public sealed class SqlitePooledContextInboxContractTests(SqliteFixture fixture) : InboxContractTests<SqliteFixture>(fixture)
{
    protected override bool PooledContexts => true;
}
