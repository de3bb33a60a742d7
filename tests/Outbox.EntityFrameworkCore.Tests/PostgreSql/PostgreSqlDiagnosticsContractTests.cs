using Outbox.EntityFrameworkCore.Tests.Contract;

namespace Outbox.EntityFrameworkCore.Tests.PostgreSql;

[Collection(Outbox.EntityFrameworkCore.Tests.Infrastructure.TelemetryCollection.Name)]
public sealed class PostgreSqlDiagnosticsContractTests(PostgreSqlFixture fixture) : DiagnosticsContractTests<PostgreSqlFixture>(fixture);
