namespace Outbox;

/// <summary>
/// Creates the stores of one tenant database: registered (under the outbox's name) by a store package that supports a
/// database per tenant (<c>UsePostgreSql</c>, <c>UseSqlite</c>). Creating them must not connect: a tenant whose database
/// is down still gets a dispatcher, which retries.
/// </summary>
internal interface IOutboxTenantStoreFactory
{
    /// <summary>The stores of <paramref name="database"/>; <paramref name="signal"/> is the tenant's wake-up (an admin requeue notifies it).</summary>
    OutboxTenantStores Create(OutboxDatabase database, OutboxSignal signal);
}

/// <summary>The stores of one tenant database and what to dispose when the tenant stops.</summary>
internal sealed record OutboxTenantStores(IOutboxStore Store, IOutboxMonitor? Monitor, IOutboxAdminStore? Admin, IAsyncDisposable? Resources);

/// <summary>What a tenant's <see cref="OutboxDispatcher"/> uses of its own.</summary>
internal sealed record OutboxTenantBinding(
    string TenantId,
    IOutboxStore Store,
    OutboxSignal Signal,
    OutboxDispatcherHeartbeat Heartbeat,
    KeyValuePair<string, object?> MetricTag);
