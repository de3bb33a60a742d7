using Outbox.EntityFrameworkCore.Tests.Contract;

namespace Outbox.EntityFrameworkCore.Tests.PostgreSql;

public sealed class PostgreSqlInboxContractTests(PostgreSqlFixture fixture) : InboxContractTests<PostgreSqlFixture>(fixture);
