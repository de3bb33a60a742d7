using Outbox.EntityFrameworkCore.Tests.Contract;

namespace Outbox.EntityFrameworkCore.Tests.PgBouncer;

/// <summary>The PostgreSQL outbox contract, every connection through PgBouncer in transaction mode.</summary>
public sealed class PgBouncerOutboxContractTests(PgBouncerFixture fixture) : OutboxContractTests<PgBouncerFixture>(fixture);
