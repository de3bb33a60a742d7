namespace Outbox;

/// <summary>
/// Lists the tenant databases of a database-per-tenant outbox (<c>AddOutbox().UsePostgreSql&lt;TContext&gt;()
/// .UseDatabasePerTenant&lt;TSource&gt;()</c>): an application service, read when the host starts, every
/// <see cref="OutboxTenantOptions.RefreshInterval"/> and on <see cref="IOutboxTenants.RefreshAsync"/>. A tenant that
/// appears gets its own dispatcher; one that disappears is stopped (its in-flight sends finish, its rows stay in its
/// database). A read that throws is logged and the tenants already running carry on.
/// </summary>
public interface IOutboxDatabaseSource
{
    /// <summary>The tenant databases now: one entry per tenant, each with its connection string.</summary>
    ValueTask<IReadOnlyCollection<OutboxDatabase>> GetDatabasesAsync(CancellationToken cancellationToken);
}
