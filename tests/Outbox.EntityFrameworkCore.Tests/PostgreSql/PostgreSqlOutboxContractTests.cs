using Outbox.EntityFrameworkCore.Tests.Contract;

namespace Outbox.EntityFrameworkCore.Tests.PostgreSql;

public sealed class PostgreSqlOutboxContractTests(PostgreSqlFixture fixture) : OutboxContractTests<PostgreSqlFixture>(fixture);
