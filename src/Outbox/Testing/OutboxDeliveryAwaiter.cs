using Microsoft.Extensions.DependencyInjection;

namespace Outbox.Testing;

/// <summary>
/// Lets integration tests wait for the outbox to deliver what was published, instead of sleeping.
/// Resolve it from the host's services, or call <see cref="OutboxDeliveryAwaiterExtensions.WaitForOutboxDeliveryAsync"/>.
/// </summary>
public sealed class OutboxDeliveryAwaiter
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(20);
    private readonly IOutboxStore _store;
    private readonly OutboxSignal _signal;

    /// <summary>Creates the awaiter.</summary>
    public OutboxDeliveryAwaiter(IOutboxStore store, OutboxSignal signal)
    {
        _store = store;
        _signal = signal;
    }

    /// <summary>
    /// Waits until every message committed before the call has an outcome: delivered, or moved to the dead letters.
    /// Messages scheduled for later and never attempted yet are not waited for. Uses the real clock.
    /// </summary>
    /// <exception cref="TimeoutException">Some messages were still undelivered after <paramref name="timeout"/>.</exception>
    public async Task WaitForDeliveryAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var upTo = await _store.GetLastPositionAsync(cancellationToken).ConfigureAwait(false);
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            _signal.Notify();
            var remaining = await _store.CountUndeliveredAsync(upTo, cancellationToken).ConfigureAwait(false);
            if (remaining == 0)
            {
                return;
            }

            if (DateTime.UtcNow >= deadline)
            {
                throw new TimeoutException(
                    $"{remaining} outbox message(s) written up to position {upTo} were still undelivered after {timeout}. " +
                    "Is the dispatcher running (Outbox:Dispatcher:Enabled) and is the transport accepting messages?");
            }

            await Task.Delay(PollInterval, cancellationToken).ConfigureAwait(false);
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
