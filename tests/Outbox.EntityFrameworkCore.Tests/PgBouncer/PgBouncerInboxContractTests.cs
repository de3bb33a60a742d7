using Outbox.EntityFrameworkCore.Tests.Contract;

namespace Outbox.EntityFrameworkCore.Tests.PgBouncer;

/// <summary>The PostgreSQL inbox contract, every connection through PgBouncer in transaction mode.</summary>
public sealed class PgBouncerInboxContractTests(PgBouncerFixture fixture) : InboxContractTests<PgBouncerFixture>(fixture);
