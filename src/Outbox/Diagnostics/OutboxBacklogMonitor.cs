using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Outbox;

/// <summary>
/// Reads the backlog every <see cref="OutboxDispatcherOptions.BacklogRefreshInterval"/> and keeps the last reading,
/// so that the <c>outbox.pending.*</c> gauges and health checks never query the database themselves.
/// </summary>
public sealed partial class OutboxBacklogMonitor : BackgroundService
{
    private readonly IServiceProvider _services;
    private readonly OutboxInstance _outbox;
    private readonly OutboxDispatcherOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Meter? _ownedMeter;
    private StrongBox<OutboxBacklog>? _last; // a reference, so readers see a whole reading

    /// <summary>Creates the monitor of the default outbox.</summary>
    public OutboxBacklogMonitor(IServiceProvider services, IOptions<OutboxDispatcherOptions> options, TimeProvider timeProvider, ILogger<OutboxBacklogMonitor> logger)
        : this(services, new OutboxInstance(OutboxInstance.DefaultName), (options ?? throw new ArgumentNullException(nameof(options))).Value, timeProvider, logger)
    {
    }

    /// <summary>Creates the monitor of <paramref name="outbox"/>.</summary>
    internal OutboxBacklogMonitor(IServiceProvider services, OutboxInstance outbox)
        : this(services, outbox, outbox.DispatcherOptions(services), services.GetRequiredService<TimeProvider>(), services.GetRequiredService<ILogger<OutboxBacklogMonitor>>())
    {
    }

    private OutboxBacklogMonitor(IServiceProvider services, OutboxInstance outbox, OutboxDispatcherOptions options, TimeProvider timeProvider, ILogger<OutboxBacklogMonitor> logger)
    {
        _services = services ?? throw new ArgumentNullException(nameof(services));
        _outbox = outbox;
        _options = options;
        _time = timeProvider;
        _logger = logger;

        // The gauges belong to this host's meter (IMeterFactory), so they go away with the host instead of piling up
        // on a process-wide meter when a process builds several hosts. Each outbox's gauges carry its outbox.name.
        var meter = services.GetService<IMeterFactory>()?.Create(OutboxTelemetry.MeterName) ?? (_ownedMeter = new Meter(OutboxTelemetry.MeterName));
        var tag = outbox.Tag;
        meter.CreateObservableGauge(
            "outbox.pending.count", () => new Measurement<long>(Last?.Pending ?? 0, tag), "{message}", "Messages waiting in the outbox (last reading).");
        meter.CreateObservableGauge(
            "outbox.pending.oldest_age", () => new Measurement<double>(Last?.OldestAge.TotalSeconds ?? 0, tag), "s", "Age of the oldest waiting message (last reading).");
        meter.CreateObservableGauge(
            "outbox.dead_letters.count", () => new Measurement<long>(Last?.DeadLetters ?? 0, tag), "{message}", "Messages in the dead-letter table (last reading).");
    }

    /// <summary>The name of the outbox this monitor reads.</summary>
    internal string OutboxName => _outbox.Name;

    /// <summary>The last reading, or <see langword="null"/> before the first one succeeded.</summary>
    public OutboxBacklog? Last => Volatile.Read(ref _last)?.Value;

    /// <summary>Reads the backlog now and keeps the reading.</summary>
    public async Task<OutboxBacklog?> RefreshAsync(CancellationToken cancellationToken)
    {
        if (((IOutboxMonitor?)_outbox.Tenants(_services) ?? _outbox.Resolve<IOutboxMonitor>(_services)) is not { } monitor)
        {
            return null;
        }

        var reading = await monitor.GetBacklogAsync(cancellationToken).ConfigureAwait(false);
        Volatile.Write(ref _last, new StrongBox<OutboxBacklog>(reading));
        return reading;
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await Task.Yield();
        using var logScope = _logger.BeginScope(new OutboxLogScope(_outbox.Name));
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await RefreshAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                BacklogReadFailed(_logger, ex);
            }

            try
            {
                await Task.Delay(_options.BacklogRefreshInterval, _time, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <inheritdoc />
    public override void Dispose()
    {
        _ownedMeter?.Dispose();
        base.Dispose();
    }

    [LoggerMessage(EventId = 1020, Level = LogLevel.Warning, Message = "Reading the outbox backlog failed; the gauges keep the previous reading.")]
    private static partial void BacklogReadFailed(ILogger logger, Exception exception);
}
