using Microsoft.Extensions.DependencyInjection;

namespace Outbox.Testing;

/// <summary>
/// Lets integration tests wait for the outbox to deliver what was published, instead of sleeping.
/// Resolve it from the host's services, or call <see cref="OutboxDeliveryAwaiterExtensions.WaitForOutboxDeliveryAsync"/>.
/// </summary>
public sealed class OutboxDeliveryAwaiter
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(20);
    private readonly (string Name, IOutboxStore Store, OutboxSignal Signal)[] _outboxes;

    /// <summary>Creates the awaiter of one store.</summary>
    public OutboxDeliveryAwaiter(IOutboxStore store, OutboxSignal signal)
    {
        _outboxes = [(OutboxInstance.DefaultName, store, signal)];
    }

    /// <summary>Creates the awaiter of every outbox of the host that has a store.</summary>
    internal OutboxDeliveryAwaiter(IServiceProvider services, IEnumerable<OutboxInstance> outboxes)
    {
        _outboxes = outboxes
            .Select(o => (o.Name, Store: o.Resolve<IOutboxStore>(services), Signal: services.GetRequiredKeyedService<OutboxSignal>(o.Name)))
            .Where(static o => o.Store is not null)
            .Select(static o => (o.Name, o.Store!, o.Signal))
            .ToArray();
        if (_outboxes.Length == 0)
        {
            throw new InvalidOperationException("No outbox of this host has a store: call UsePostgreSql<TContext>() or UseSqlite<TContext>() on AddOutbox().");
        }
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
        var upTo = new long[_outboxes.Length];
        for (var i = 0; i < _outboxes.Length; i++)
        {
            upTo[i] = await _outboxes[i].Store.GetLastPositionAsync(cancellationToken).ConfigureAwait(false);
        }

        for (var i = 0; i < _outboxes.Length; i++)
        {
            var (name, store, signal) = _outboxes[i];
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
                    var which = _outboxes.Length == 1 ? "outbox" : $"outbox '{name}'";
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
