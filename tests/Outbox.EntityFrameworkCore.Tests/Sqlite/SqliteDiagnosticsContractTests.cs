using Outbox.EntityFrameworkCore.Tests.Contract;

namespace Outbox.EntityFrameworkCore.Tests.Sqlite;

[Collection(Outbox.EntityFrameworkCore.Tests.Infrastructure.TelemetryCollection.Name)]
public sealed class SqliteDiagnosticsContractTests(SqliteFixture fixture) : DiagnosticsContractTests<SqliteFixture>(fixture);
