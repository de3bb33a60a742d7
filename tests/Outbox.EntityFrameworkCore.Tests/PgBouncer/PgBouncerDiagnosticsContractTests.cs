using Outbox.EntityFrameworkCore.Tests.Contract;

namespace Outbox.EntityFrameworkCore.Tests.PgBouncer;

/// <summary>The PostgreSQL diagnostics contract, every connection through PgBouncer in transaction mode.</summary>
[Collection(Outbox.EntityFrameworkCore.Tests.Infrastructure.TelemetryCollection.Name)]
public sealed class PgBouncerDiagnosticsContractTests(PgBouncerFixture fixture) : DiagnosticsContractTests<PgBouncerFixture>(fixture);
