using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Outbox;

/// <summary>
/// The dispatcher of a database-per-tenant outbox, in place of its single <see cref="OutboxDispatcher"/>: reads
/// <see cref="IOutboxDatabaseSource"/> at start, every <see cref="OutboxTenantOptions.RefreshInterval"/> and on
/// <see cref="RefreshAsync"/>, and runs one <see cref="OutboxDispatcher"/> per tenant database with the tenant's own
/// store (its own leases, claim floor and backoff), wake-up signal and heartbeat, and the outbox's transports, resilience
/// pipelines and circuits. Tenants never wait for each other: a tenant with a deep backlog keeps only its own loops busy,
/// and an unreachable tenant's loops back off alone. A commit wakes only the tenant whose connection string its context
/// used. Also the outbox's <see cref="IOutboxMonitor"/>: the backlog summed over the tenants that answer.
/// </summary>
internal sealed partial class OutboxTenantDispatcher : BackgroundService, IOutboxTenants, IOutboxMonitor
{
    private readonly IServiceProvider _services;
    private readonly OutboxInstance _outbox;
    private readonly OutboxTenantOptions _options;
    private readonly OutboxDispatcherOptions _dispatcherOptions;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, Tenant> _tenants = new(StringComparer.Ordinal);
    private readonly HashSet<string> _taggedTenants = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _refreshing = new(1, 1);
    private volatile Dictionary<string, Tenant> _byConnectionString = new(StringComparer.Ordinal);
    private TaskCompletionSource _refreshRequested = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Dictionary<OutboxDatabase, OutboxTenantStores> _adminOnly = [];
    private IOutboxDatabaseSource? _source;
    private IOutboxTenantStoreFactory? _factory;
    private int _sourceFailures;
    private volatile bool _running;

    public OutboxTenantDispatcher(IServiceProvider services, OutboxInstance outbox)
    {
        _services = services;
        _outbox = outbox;
        _options = services.GetRequiredService<IOptionsMonitor<OutboxTenantOptions>>().Get(outbox.OptionsName);
        _dispatcherOptions = outbox.DispatcherOptions(services);
        _time = services.GetRequiredService<TimeProvider>();
        _logger = services.GetRequiredService<ILogger<OutboxTenantDispatcher>>();
    }

    public string OutboxName => _outbox.Name;

    public IReadOnlyList<OutboxTenantStatus> Tenants =>
        _tenants.Values.OrderBy(static t => t.Database.TenantId, StringComparer.Ordinal).Select(static t => t.Status).ToList();

    /// <summary>The running tenants (for the delivery awaiter and the admin API).</summary>
    internal IReadOnlyList<(OutboxDatabase Database, OutboxTenantStores Stores, OutboxSignal Signal)> Running =>
        _tenants.Values.OrderBy(static t => t.Database.TenantId, StringComparer.Ordinal).Select(static t => (t.Database, t.Stores, t.Signal)).ToList();

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        if (_dispatcherOptions.Enabled)
        {
            _source = _outbox.Resolve<IOutboxDatabaseSource>(_services)
                ?? throw new InvalidOperationException($"Outbox '{_outbox.Name}' has no IOutboxDatabaseSource: call UseDatabasePerTenant<TSource>() on it.");
            _factory = _outbox.Resolve<IOutboxTenantStoreFactory>(_services)
                ?? throw new InvalidOperationException(
                    $"The store of outbox '{_outbox.Name}' cannot keep a database per tenant: use UsePostgreSql<TContext>() or UseSqlite<TContext>() with UseDatabasePerTenant<TSource>().");

            // A commit wakes the tenant whose connection string its context used (all of them when none matches).
            _services.GetRequiredKeyedService<OutboxSignal>(_outbox.Name).CommitRouter = RouteCommit;
            _running = true;
            await RefreshOnceAsync(throwOnSourceFailure: false, cancellationToken).ConfigureAwait(false);
        }

        await base.StartAsync(cancellationToken).ConfigureAwait(false);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await Task.Yield();
        using var logScope = _logger.BeginScope(new OutboxLogScope(_outbox.Name));
        if (!_dispatcherOptions.Enabled)
        {
            OutboxLog.DispatcherDisabled(_logger);
            return;
        }

        while (!stoppingToken.IsCancellationRequested)
        {
            var requested = Volatile.Read(ref _refreshRequested).Task;
            try
            {
                await Task.WhenAny(requested, Task.Delay(_options.RefreshInterval, _time, stoppingToken)).ConfigureAwait(false);
                if (stoppingToken.IsCancellationRequested)
                {
                    break;
                }

                await RefreshOnceAsync(throwOnSourceFailure: false, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                TenantLog.RefreshFailed(_logger, ex, _outbox.Name);
            }
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        _running = false;
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        await _refreshing.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await Task.WhenAll(_tenants.Values.Select(t => StopTenantAsync(t, cancellationToken))).ConfigureAwait(false);
            _tenants.Clear();
            _byConnectionString = new Dictionary<string, Tenant>(StringComparer.Ordinal);
            await DisposeAdminOnlyStoresAsync().ConfigureAwait(false);
        }
        finally
        {
            _refreshing.Release();
        }
    }

    public async Task RefreshAsync(CancellationToken cancellationToken = default)
    {
        if (!_running)
        {
            throw new InvalidOperationException($"The dispatcher of outbox '{_outbox.Name}' is not running (the host has not started, has stopped, or Outbox:Dispatcher:Enabled is false).");
        }

        await RefreshOnceAsync(throwOnSourceFailure: true, cancellationToken).ConfigureAwait(false);
    }

    public async Task<OutboxBacklog> GetBacklogAsync(CancellationToken cancellationToken)
    {
        long pending = 0, deadLetters = 0;
        DateTimeOffset? oldest = null;
        var answered = 0;
        var lockObject = new object();
        await Parallel.ForEachAsync(
            _tenants.Values.Where(static t => t.Stores.Monitor is not null).ToList(),
            new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = cancellationToken },
            async (tenant, ct) =>
            {
                OutboxBacklog reading;
                try
                {
                    reading = await tenant.Stores.Monitor!.GetBacklogAsync(ct).ConfigureAwait(false);
                }
                catch (Exception) when (!ct.IsCancellationRequested)
                {
                    return; // an unreachable tenant is reported by its status, not by failing everyone's reading
                }

                tenant.Backlog = reading;
                lock (lockObject)
                {
                    answered++;
                    pending = Math.Min(OutboxBacklog.CountCap, pending + reading.Pending);
                    deadLetters = Math.Min(OutboxBacklog.CountCap, deadLetters + reading.DeadLetters);
                    if (reading.OldestCreatedAt is { } o && (oldest is null || o < oldest))
                    {
                        oldest = o;
                    }
                }
            }).ConfigureAwait(false);

        if (answered == 0 && !_tenants.IsEmpty)
        {
            throw new InvalidOperationException($"No tenant database of outbox '{_outbox.Name}' answered the backlog reading.");
        }

        return new OutboxBacklog(pending, oldest, deadLetters, _time.GetUtcNow());
    }

    public override void Dispose()
    {
        _refreshing.Dispose();
        base.Dispose();
    }

    /// <summary>
    /// The admin store of tenant <paramref name="tenantId"/>: its running dispatcher's, or else, when the source lists it
    /// (a host whose dispatcher is disabled, one not started yet, or a tenant listed since the last refresh), stores made
    /// for the admin API alone from the source's entry, kept until the host stops. <see langword="null"/> when the source
    /// does not list it.
    /// </summary>
    internal async ValueTask<IOutboxAdminStore?> AdminStoreAsync(string tenantId, CancellationToken cancellationToken)
    {
        if (_tenants.TryGetValue(tenantId, out var running))
        {
            return running.Stores.Admin;
        }

        var source = _outbox.Resolve<IOutboxDatabaseSource>(_services);
        var factory = _outbox.Resolve<IOutboxTenantStoreFactory>(_services);
        if (source is null || factory is null)
        {
            return null;
        }

        var databases = await source.GetDatabasesAsync(cancellationToken).ConfigureAwait(false);
        var listed = databases.FirstOrDefault(d => string.Equals(d.TenantId, tenantId, StringComparison.Ordinal));
        if (listed is null)
        {
            return null;
        }

        lock (_adminOnly)
        {
            if (!_adminOnly.TryGetValue(listed, out var stores))
            {
                // Its own signal: a requeue here wakes nobody; the tenant's dispatcher, once running, finds the rows by claiming.
                stores = factory.Create(listed, new OutboxSignal());
                _adminOnly.Add(listed, stores);
            }

            return stores.Admin;
        }
    }

    private async Task DisposeAdminOnlyStoresAsync()
    {
        List<OutboxTenantStores> stores;
        lock (_adminOnly)
        {
            stores = [.. _adminOnly.Values];
            _adminOnly.Clear();
        }

        foreach (var resources in stores.Select(static s => s.Resources).OfType<IAsyncDisposable>())
        {
            await resources.DisposeAsync().ConfigureAwait(false);
        }
    }

    private void RouteCommit(string? connectionString)
    {
        if (connectionString is not null && _byConnectionString.TryGetValue(connectionString, out var tenant))
        {
            tenant.Signal.NotifyCommits();
            return;
        }

        foreach (var t in _tenants.Values)
        {
            t.Signal.NotifyCommits();
        }
    }

    private async Task RefreshOnceAsync(bool throwOnSourceFailure, CancellationToken cancellationToken)
    {
        Interlocked.Exchange(ref _refreshRequested, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        await _refreshing.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (!_running)
            {
                return;
            }

            IReadOnlyCollection<OutboxDatabase> listed;
            try
            {
                listed = await _source!.GetDatabasesAsync(cancellationToken).ConfigureAwait(false)
                    ?? throw new InvalidOperationException($"{_source.GetType().Name}.GetDatabasesAsync returned null.");
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                if (++_sourceFailures % 30 == 1)
                {
                    TenantLog.SourceFailed(_logger, ex, _outbox.Name, _source!.GetType().Name, _tenants.Count, _options.RefreshInterval);
                }

                if (throwOnSourceFailure)
                {
                    throw new InvalidOperationException($"The tenant databases of outbox '{_outbox.Name}' could not be read: {ex.Message}", ex);
                }

                return;
            }

            _sourceFailures = 0;
            var wanted = new Dictionary<string, OutboxDatabase>(StringComparer.Ordinal);
            foreach (var database in listed)
            {
                if (database is null)
                {
                    continue;
                }

                if (!wanted.TryAdd(database.TenantId, database))
                {
                    TenantLog.DuplicateTenant(_logger, _outbox.Name, database.TenantId);
                }
            }

            // Removed, or moved to another database: stopped first (their in-flight sends finish or are released).
            var stopping = _tenants.Values
                .Where(t => !wanted.TryGetValue(t.Database.TenantId, out var w) || w.ConnectionString != t.Database.ConnectionString)
                .ToList();
            foreach (var tenant in stopping)
            {
                _tenants.TryRemove(tenant.Database.TenantId, out _);
            }

            RebuildConnectionIndex();
            await Task.WhenAll(stopping.Select(t => StopTenantAsync(t, cancellationToken))).ConfigureAwait(false);
            foreach (var tenant in stopping)
            {
                TenantLog.TenantStopped(_logger, _outbox.Name, tenant.Database.TenantId);
            }

            foreach (var database in wanted.Values.Where(d => !_tenants.ContainsKey(d.TenantId)))
            {
                var tenant = await StartTenantAsync(database, cancellationToken).ConfigureAwait(false);
                _tenants[database.TenantId] = tenant;
                TenantLog.TenantStarted(_logger, _outbox.Name, database.TenantId, _options.ConcurrencyPerTenant);
            }

            RebuildConnectionIndex();
        }
        finally
        {
            _refreshing.Release();
        }
    }

    private async Task<Tenant> StartTenantAsync(OutboxDatabase database, CancellationToken cancellationToken)
    {
        var signal = new OutboxSignal();
        var stores = _factory!.Create(database, signal);
        var heartbeat = new OutboxDispatcherHeartbeat(_time);
        var binding = new OutboxTenantBinding(database.TenantId, new OutboxTenantStore(database.TenantId, stores.Store), signal, heartbeat, MetricTagOf(database.TenantId));
        var dispatcher = new OutboxDispatcher(
            _services,
            _outbox,
            binding,
            _options.ConcurrencyPerTenant,
            _time,
            _services.GetRequiredService<ILogger<OutboxDispatcher>>());
        await dispatcher.StartAsync(cancellationToken).ConfigureAwait(false);
        return new Tenant(database, stores, signal, heartbeat, dispatcher, _time.GetUtcNow());
    }

    private static async Task StopTenantAsync(Tenant tenant, CancellationToken cancellationToken)
    {
        try
        {
            await tenant.Dispatcher.StopAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            tenant.Dispatcher.Dispose();
            if (tenant.Stores.Resources is { } resources)
            {
                await resources.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private KeyValuePair<string, object?> MetricTagOf(string tenantId)
    {
        if (_taggedTenants.Contains(tenantId) || (_taggedTenants.Count < _options.MetricTenantLimit && _taggedTenants.Add(tenantId)))
        {
            return new KeyValuePair<string, object?>("outbox.tenant", tenantId);
        }

        return new KeyValuePair<string, object?>("outbox.tenant", _options.MetricTenantLimit == 0 ? null : "other");
    }

    private void RebuildConnectionIndex()
    {
        var index = new Dictionary<string, Tenant>(StringComparer.Ordinal);
        foreach (var tenant in _tenants.Values)
        {
            index.TryAdd(tenant.Database.ConnectionString, tenant);
        }

        _byConnectionString = index;
    }

    private sealed class Tenant(
        OutboxDatabase database,
        OutboxTenantStores stores,
        OutboxSignal signal,
        OutboxDispatcherHeartbeat heartbeat,
        OutboxDispatcher dispatcher,
        DateTimeOffset startedAt)
    {
        public OutboxDatabase Database { get; } = database;

        public OutboxTenantStores Stores { get; } = stores;

        public OutboxSignal Signal { get; } = signal;

        public OutboxDispatcher Dispatcher { get; } = dispatcher;

        public OutboxBacklog? Backlog { get; set; }

        public OutboxTenantStatus Status =>
            new(Database.TenantId, startedAt, heartbeat.LastBeat, heartbeat.LastFailure?.At, heartbeat.LastFailure?.Error, Backlog) { Loops = Dispatcher.RunningLoops };
    }

    private static partial class TenantLog
    {
        [LoggerMessage(EventId = 1030, Level = LogLevel.Information, Message = "Outbox {Outbox}: tenant {Tenant} started (one dispatcher loop, up to {Loops} while its claims come back full).")]
        public static partial void TenantStarted(ILogger logger, string outbox, string tenant, int loops);

        [LoggerMessage(EventId = 1031, Level = LogLevel.Information, Message = "Outbox {Outbox}: tenant {Tenant} stopped (no longer listed by the tenant source, or its connection string changed).")]
        public static partial void TenantStopped(ILogger logger, string outbox, string tenant);

        [LoggerMessage(EventId = 1032, Level = LogLevel.Warning, Message = "Outbox {Outbox}: reading the tenant databases from {Source} failed; the {Running} tenant(s) already running carry on, and the source is read again in {RefreshInterval}. Logged at the first failure and every 30th.")]
        public static partial void SourceFailed(ILogger logger, Exception exception, string outbox, string source, int running, TimeSpan refreshInterval);

        [LoggerMessage(EventId = 1033, Level = LogLevel.Warning, Message = "Outbox {Outbox}: the tenant source lists tenant {Tenant} more than once; the first entry is used.")]
        public static partial void DuplicateTenant(ILogger logger, string outbox, string tenant);

        [LoggerMessage(EventId = 1034, Level = LogLevel.Error, Message = "Outbox {Outbox}: refreshing the tenants failed; retried at the next refresh.")]
        public static partial void RefreshFailed(ILogger logger, Exception exception, string outbox);
    }
}
