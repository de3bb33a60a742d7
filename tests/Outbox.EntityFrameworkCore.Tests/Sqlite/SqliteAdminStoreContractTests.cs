using Outbox.EntityFrameworkCore.Tests.Contract;

namespace Outbox.EntityFrameworkCore.Tests.Sqlite;

public sealed class SqliteAdminStoreContractTests(SqliteFixture fixture) : AdminStoreContractTests<SqliteFixture>(fixture);
