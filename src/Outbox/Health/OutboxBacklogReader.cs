using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Outbox;

/// <summary>
/// Gives health checks and the admin API a recent backlog reading without a query per probe: the last reading of
/// <see cref="OutboxBacklogMonitor"/> while it is younger than twice the refresh interval, else one refresh at a time
/// (concurrent callers wait for it rather than each querying).
/// </summary>
internal sealed class OutboxBacklogReader(IServiceProvider services, IOptions<OutboxDispatcherOptions> options, TimeProvider timeProvider) : IDisposable
{
    private readonly SemaphoreSlim _refresh = new(1, 1);

    /// <summary>
    /// A reading no older than twice <see cref="OutboxDispatcherOptions.BacklogRefreshInterval"/>, or
    /// <see langword="null"/> when no store can report the backlog (no <see cref="IOutboxMonitor"/>, or no <c>AddOutbox()</c>).
    /// </summary>
    /// <exception cref="Exception">The refresh failed (database unreachable).</exception>
    public async Task<OutboxBacklog?> ReadAsync(CancellationToken cancellationToken)
    {
        if (services.GetService<OutboxBacklogMonitor>() is not { } monitor)
        {
            return null;
        }

        if (Fresh(monitor.Last) is { } fresh)
        {
            return fresh;
        }

        await _refresh.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // Someone else may have refreshed while this caller waited.
            return Fresh(monitor.Last) ?? await monitor.RefreshAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _refresh.Release();
        }
    }

    public void Dispose() => _refresh.Dispose();

    private OutboxBacklog? Fresh(OutboxBacklog? reading)
    {
        var maxAge = options.Value.BacklogRefreshInterval * 2;
        return reading is { } r && timeProvider.GetUtcNow() - r.ReadAt <= maxAge ? r : null;
    }
}
