using Outbox.EntityFrameworkCore.Tests.Contract;

namespace Outbox.EntityFrameworkCore.Tests.PgBouncer;

/// <summary>The PostgreSQL admin store contract, every connection through PgBouncer in transaction mode.</summary>
public sealed class PgBouncerAdminStoreContractTests(PgBouncerFixture fixture) : AdminStoreContractTests<PgBouncerFixture>(fixture);
