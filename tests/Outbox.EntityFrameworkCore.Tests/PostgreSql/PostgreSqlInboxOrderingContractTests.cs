using Outbox.EntityFrameworkCore.Tests.Contract;

namespace Outbox.EntityFrameworkCore.Tests.PostgreSql;

public sealed class PostgreSqlInboxOrderingContractTests(PostgreSqlFixture fixture) : InboxOrderingContractTests<PostgreSqlFixture>(fixture);
