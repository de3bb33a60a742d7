using Microsoft.Extensions.DependencyInjection;

namespace Outbox;

/// <summary>
/// A consumer's view of the tenant databases (<c>AddOutboxConsumer&lt;TContext&gt;(...).UseDatabasePerTenant&lt;TSource&gt;()</c>):
/// the connection string of a message's tenant, from <see cref="IOutboxDatabaseSource"/> read at first use, every 30
/// seconds, and at once (at most once a second) when a message names a tenant it does not know yet.
/// </summary>
internal sealed class OutboxTenantDirectory(IOutboxDatabaseSource source, TimeProvider time) : IDisposable
{
    private static readonly TimeSpan MaxAge = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan MissRefreshInterval = TimeSpan.FromSeconds(1);
    private readonly SemaphoreSlim _reading = new(1, 1);
    private volatile Dictionary<string, string> _tenants = new(StringComparer.Ordinal);
    private long _readAt = long.MinValue;

    /// <summary>The connection string of tenant <paramref name="tenantId"/>, or <see langword="null"/> when the source does not list it.</summary>
    public async ValueTask<string?> ConnectionStringOfAsync(string tenantId, CancellationToken cancellationToken)
    {
        if (Age() > MaxAge || (!_tenants.ContainsKey(tenantId) && Age() > MissRefreshInterval))
        {
            await ReadAsync(cancellationToken).ConfigureAwait(false);
        }

        return _tenants.GetValueOrDefault(tenantId);
    }

    /// <summary>Makes <paramref name="tenantId"/> the tenant of <paramref name="scope"/> (a consumer's processing scope).</summary>
    public static async ValueTask EnterAsync(IServiceProvider scope, string consumer, string? tenantId, CancellationToken cancellationToken)
    {
        if (tenantId is null
            || scope.GetKeyedService<OutboxTenantDirectory>(consumer) is not { } directory
            || scope.GetService<OutboxTenantContext>() is not { } context)
        {
            return;
        }

        context.Use(tenantId, await directory.ConnectionStringOfAsync(tenantId, cancellationToken).ConfigureAwait(false));
    }

    public void Dispose() => _reading.Dispose();

    private TimeSpan Age()
    {
        var readAt = Interlocked.Read(ref _readAt);
        return readAt == long.MinValue ? TimeSpan.MaxValue : time.GetElapsedTime(readAt);
    }

    private async Task ReadAsync(CancellationToken cancellationToken)
    {
        var age = Age();
        await _reading.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (Age() < age)
            {
                return; // read by another caller meanwhile
            }

            var listed = await source.GetDatabasesAsync(cancellationToken).ConfigureAwait(false);
            var tenants = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var database in listed)
            {
                tenants.TryAdd(database.TenantId, database.ConnectionString);
            }

            _tenants = tenants;
            Interlocked.Exchange(ref _readAt, time.GetTimestamp());
        }
        finally
        {
            _reading.Release();
        }
    }
}
