using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Outbox;

/// <summary>
/// Gives health checks and the admin API a recent backlog reading without a query per probe: the last reading of
/// <see cref="OutboxBacklogMonitor"/> while it is younger than twice the refresh interval, else one refresh at a time
/// (concurrent callers wait for it rather than each querying).
/// </summary>
internal sealed class OutboxBacklogReader(OutboxBacklogMonitor? backlogMonitor, OutboxDispatcherOptions options, TimeProvider timeProvider) : IDisposable
{
    private readonly SemaphoreSlim _refresh = new(1, 1);

    /// <summary>
    /// A reading no older than twice <see cref="OutboxDispatcherOptions.BacklogRefreshInterval"/>, or
    /// <see langword="null"/> when no store can report the backlog (no <see cref="IOutboxMonitor"/>, or no <c>AddOutbox()</c>).
    /// </summary>
    /// <exception cref="Exception">The refresh failed (database unreachable).</exception>
    public async Task<OutboxBacklog?> ReadAsync(CancellationToken cancellationToken)
    {
        if (backlogMonitor is not { } monitor)
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
        var maxAge = options.BacklogRefreshInterval * 2;
        return reading is { } r && timeProvider.GetUtcNow() - r.ReadAt <= maxAge ? r : null;
    }
}

/// <summary>One <see cref="OutboxBacklogReader"/> per outbox, made on first use.</summary>
internal sealed class OutboxBacklogReaders(IServiceProvider services) : IDisposable
{
    private readonly ConcurrentDictionary<string, Lazy<OutboxBacklogReader>> _readers = new(StringComparer.Ordinal);

    /// <summary>The reader of outbox <paramref name="outbox"/> (whose monitor may be missing: no <c>AddOutbox()</c>).</summary>
    public OutboxBacklogReader For(string outbox) =>
        _readers.GetOrAdd(outbox, name => new Lazy<OutboxBacklogReader>(() => new OutboxBacklogReader(
            services.GetKeyedService<OutboxBacklogMonitor>(name),
            services.GetRequiredService<IOptionsMonitor<OutboxDispatcherOptions>>().Get(OutboxInstance.OptionsNameOf(name)),
            services.GetRequiredService<TimeProvider>()))).Value;

    public void Dispose()
    {
        foreach (var reader in _readers.Values)
        {
            if (reader.IsValueCreated)
            {
                reader.Value.Dispose();
            }
        }
    }
}
