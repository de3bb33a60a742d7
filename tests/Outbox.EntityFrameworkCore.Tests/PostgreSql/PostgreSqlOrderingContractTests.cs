using Outbox.EntityFrameworkCore.Tests.Contract;

namespace Outbox.EntityFrameworkCore.Tests.PostgreSql;

public sealed class PostgreSqlOrderingContractTests(PostgreSqlFixture fixture) : OrderingContractTests<PostgreSqlFixture>(fixture);
