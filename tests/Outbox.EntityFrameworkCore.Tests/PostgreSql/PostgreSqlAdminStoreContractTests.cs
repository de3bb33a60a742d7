using Outbox.EntityFrameworkCore.Tests.Contract;

namespace Outbox.EntityFrameworkCore.Tests.PostgreSql;

public sealed class PostgreSqlAdminStoreContractTests(PostgreSqlFixture fixture) : AdminStoreContractTests<PostgreSqlFixture>(fixture);
