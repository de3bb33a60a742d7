using Microsoft.Extensions.DependencyInjection;

namespace Outbox.Testing;

/// <summary>
/// Lets integration tests wait for the outbox to deliver what was published, instead of sleeping.
/// Resolve it from the host's services, or call <see cref="OutboxDeliveryAwaiterExtensions.WaitForOutboxDeliveryAsync"/>.
/// </summary>
public sealed class OutboxDeliveryAwaiter
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(20);
    private readonly Func<(string Name, IOutboxStore Store, OutboxSignal Signal)[]> _outboxes;

    /// <summary>Creates the awaiter of one store.</summary>
    public OutboxDeliveryAwaiter(IOutboxStore store, OutboxSignal signal)
    {
        (string, IOutboxStore, OutboxSignal)[] one = [(OutboxInstance.DefaultName, store, signal)];
        _outboxes = () => one;
    }

    /// <summary>
    /// Creates the awaiter of every outbox of the host that has a store; a database-per-tenant outbox counts with every
    /// tenant running when a wait starts.
    /// </summary>
    internal OutboxDeliveryAwaiter(IServiceProvider services, IEnumerable<OutboxInstance> outboxes)
    {
        var all = outboxes.ToArray();
        var fixedStores = all
            .Where(static o => !o.PerTenant)
            .Select(o => (o.Name, Store: o.Resolve<IOutboxStore>(services), Signal: services.GetRequiredKeyedService<OutboxSignal>(o.Name)))
            .Where(static o => o.Store is not null)
            .Select(static o => (o.Name, o.Store!, o.Signal))
            .ToArray();
        var tenantOutboxes = all.Where(static o => o.PerTenant).ToArray();
        if (fixedStores.Length == 0 && tenantOutboxes.Length == 0)
        {
            throw new InvalidOperationException("No outbox of this host has a store: call UsePostgreSql<TContext>() or UseSqlite<TContext>() on AddOutbox().");
        }

        _outboxes = () => tenantOutboxes.Length == 0
            ? fixedStores
            : fixedStores
                .Concat(tenantOutboxes.SelectMany(o => o.Tenants(services)!.Running.Select(t => ($"{o.Name}/{t.Database.TenantId}", t.Stores.Store, t.Signal))))
                .ToArray();
    }

    /// <summary>
    /// Waits until every message committed before the call, in every outbox of the host, has an outcome: delivered,
    /// or moved to the dead letters. Messages scheduled for later and never attempted yet are not waited for. Uses the
    /// real clock.
    /// </summary>
    /// <exception cref="TimeoutException">Some messages were still undelivered after <paramref name="timeout"/>.</exception>
    public async Task WaitForDeliveryAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var deadline = DateTime.UtcNow + timeout;
        var outboxes = _outboxes();
        var upTo = new long[outboxes.Length];
        for (var i = 0; i < outboxes.Length; i++)
        {
            upTo[i] = await outboxes[i].Store.GetLastPositionAsync(cancellationToken).ConfigureAwait(false);
        }

        for (var i = 0; i < outboxes.Length; i++)
        {
            var (name, store, signal) = outboxes[i];
            while (true)
            {
                signal.Notify();
                var remaining = await store.CountUndeliveredAsync(upTo[i], cancellationToken).ConfigureAwait(false);
                if (remaining == 0)
                {
                    break;
                }

                if (DateTime.UtcNow >= deadline)
                {
                    var which = outboxes.Length == 1 ? "outbox" : $"outbox '{name}'";
                    throw new TimeoutException(
                        $"{remaining} {which} message(s) written up to position {upTo[i]} were still undelivered after {timeout}. " +
                        "Is the dispatcher running (Outbox:Dispatcher:Enabled) and is the transport accepting messages?");
                }

                await Task.Delay(PollInterval, cancellationToken).ConfigureAwait(false);
            }
        }
    }
}

/// <summary>Shortcuts for <see cref="OutboxDeliveryAwaiter"/>.</summary>
public static class OutboxDeliveryAwaiterExtensions
{
    /// <summary>Waits until every message committed so far is delivered or dead-lettered.</summary>
    public static Task WaitForOutboxDeliveryAsync(this IServiceProvider services, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(services);
        return services.GetRequiredService<OutboxDeliveryAwaiter>().WaitForDeliveryAsync(timeout, cancellationToken);
    }
}
