using Outbox.EntityFrameworkCore.Tests.Contract;

namespace Outbox.EntityFrameworkCore.Tests.Sqlite;

public sealed class SqliteInboxContractTests(SqliteFixture fixture) : InboxContractTests<SqliteFixture>(fixture);
