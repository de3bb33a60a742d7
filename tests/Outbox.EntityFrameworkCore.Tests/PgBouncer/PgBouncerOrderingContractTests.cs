using Outbox.EntityFrameworkCore.Tests.Contract;

namespace Outbox.EntityFrameworkCore.Tests.PgBouncer;

/// <summary>The PostgreSQL ordering contract, every connection through PgBouncer in transaction mode.</summary>
public sealed class PgBouncerOrderingContractTests(PgBouncerFixture fixture) : OrderingContractTests<PgBouncerFixture>(fixture);
