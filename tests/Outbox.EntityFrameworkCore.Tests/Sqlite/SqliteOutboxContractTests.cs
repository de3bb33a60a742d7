using Outbox.EntityFrameworkCore.Tests.Contract;

namespace Outbox.EntityFrameworkCore.Tests.Sqlite;

public sealed class SqliteOutboxContractTests(SqliteFixture fixture) : OutboxContractTests<SqliteFixture>(fixture);
