using Outbox.EntityFrameworkCore.Tests.Contract;

namespace Outbox.EntityFrameworkCore.Tests.PgBouncer;

/// <summary>The PostgreSQL inbox ordering contract, every connection through PgBouncer in transaction mode.</summary>
public sealed class PgBouncerInboxOrderingContractTests(PgBouncerFixture fixture) : InboxOrderingContractTests<PgBouncerFixture>(fixture);
