using Outbox.EntityFrameworkCore.Tests.Contract;

namespace Outbox.EntityFrameworkCore.Tests.PostgreSql;

/// <summary>The PostgreSQL inbox contract with the consumer's context registered by <c>AddDbContextPool</c>.</summary>
public sealed class PostgreSqlPooledContextInboxContractTests(PostgreSqlFixture fixture) : InboxContractTests<PostgreSqlFixture>(fixture)
{
    protected override bool PooledContexts => true;
}
