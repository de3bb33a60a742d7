using Outbox.EntityFrameworkCore.Tests.Contract;

namespace Outbox.EntityFrameworkCore.Tests.Sqlite;

public sealed class SqliteOrderingContractTests(SqliteFixture fixture) : OrderingContractTests<SqliteFixture>(fixture);
