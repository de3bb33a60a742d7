using Outbox.EntityFrameworkCore.Tests.Contract;

namespace Outbox.EntityFrameworkCore.Tests.Sqlite;

public sealed class SqliteInboxOrderingContractTests(SqliteFixture fixture) : InboxOrderingContractTests<SqliteFixture>(fixture);
