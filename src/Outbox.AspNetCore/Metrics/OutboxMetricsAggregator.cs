using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Outbox.AspNetCore;

/// <summary>
/// Listens to the library's <c>Outbox</c> meter in process (a <see cref="MeterListener"/>) and keeps a short history in
/// fixed time buckets: counts per bucket and latency distributions, plus a sample of the backlog reading. The dashboard
/// polls it; it is not a metrics backend (use OpenTelemetry for that). The meter is process-wide, so every host of the
/// process contributes to the counts.
/// </summary>
internal sealed class OutboxMetricsAggregator : IHostedService, IDisposable
{
    /// <summary>Histogram bin upper bounds, in seconds (the last bin is open).</summary>
    internal static readonly double[] Bounds = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

    private readonly TimeProvider _time;
    private readonly IServiceProvider _services;
    private readonly long _bucketTicks;
    private readonly Bucket[] _ring;
    private readonly Lock _gate = new();
    private MeterListener? _listener;
    private ITimer? _sampler;

    public OutboxMetricsAggregator(IOptions<OutboxAdminOptions> options, TimeProvider timeProvider, IServiceProvider services)
    {
        var o = options.Value;
        _time = timeProvider;
        _services = services;
        _bucketTicks = o.StatsBucket.Ticks;
        _ring = new Bucket[(int)Math.Ceiling((double)o.StatsWindow.Ticks / _bucketTicks)];
        for (var i = 0; i < _ring.Length; i++)
        {
            _ring[i] = new Bucket();
        }
    }

    /// <summary>The width of one bucket.</summary>
    public TimeSpan BucketSize => TimeSpan.FromTicks(_bucketTicks);

    public Task StartAsync(CancellationToken cancellationToken)
    {
        Start();
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        Dispose();
        return Task.CompletedTask;
    }

    /// <summary>Starts listening (idempotent).</summary>
    public void Start()
    {
        lock (_gate)
        {
            if (_listener is not null)
            {
                return;
            }

            var listener = new MeterListener
            {
                InstrumentPublished = static (instrument, l) =>
                {
                    if (instrument.Meter.Name == OutboxTelemetry.MeterName && Slot(instrument.Name) is not Series.None)
                    {
                        l.EnableMeasurementEvents(instrument, instrument.Name);
                    }
                },
            };
            listener.SetMeasurementEventCallback<long>((_, value, tags, state) => Record((string)state!, value, tags));
            listener.SetMeasurementEventCallback<double>((_, value, tags, state) => Record((string)state!, value, tags));
            listener.Start();
            _listener = listener;
            _sampler = _time.CreateTimer(static s => ((OutboxMetricsAggregator)s!).SampleBacklog(), this, TimeSpan.Zero, BucketSize);
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _sampler?.Dispose();
            _sampler = null;
            _listener?.Dispose();
            _listener = null;
        }
    }

    /// <summary>The buckets of the window, oldest first, the current (partial) one last; empty buckets included.</summary>
    public IReadOnlyList<OutboxStatsBucket> Snapshot()
    {
        var current = _time.GetUtcNow().UtcTicks / _bucketTicks;
        var result = new List<OutboxStatsBucket>(_ring.Length);
        lock (_gate)
        {
            for (var epoch = current - _ring.Length + 1; epoch <= current; epoch++)
            {
                var bucket = _ring[(int)(epoch % _ring.Length)];
                var start = new DateTimeOffset(epoch * _bucketTicks, TimeSpan.Zero);
                result.Add(bucket.Epoch == epoch ? bucket.ToStats(start) : new OutboxStatsBucket { Start = start });
            }
        }

        return result;
    }

    internal void Record(string instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var series = Slot(instrument);
        if (series == Series.DeadLettered)
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "outbox.side" && tag.Value as string == "inbox")
                {
                    series = Series.InboxDeadLettered;
                    break;
                }
            }
        }

        lock (_gate)
        {
            var bucket = Current();
            switch (series)
            {
                case Series.DeliveryLatency:
                    bucket.Latency.Add(value);
                    break;
                case Series.DispatchDuration:
                    bucket.Dispatch.Add(value);
                    break;
                case Series.InboxDuration:
                    bucket.Consume.Add(value);
                    break;
                case Series.None:
                    break;
                default:
                    bucket.Counts[(int)series] += (long)value;
                    break;
            }
        }
    }

    internal void SampleBacklog()
    {
        if (_services.GetService<OutboxBacklogMonitor>()?.Last is not { } reading)
        {
            return;
        }

        lock (_gate)
        {
            var bucket = Current();
            bucket.Pending = reading.Pending;
            bucket.OldestAgeSeconds = reading.OldestAge.TotalSeconds;
            bucket.DeadLetters = reading.DeadLetters;
        }
    }

    private Bucket Current()
    {
        var epoch = _time.GetUtcNow().UtcTicks / _bucketTicks;
        var bucket = _ring[(int)(epoch % _ring.Length)];
        if (bucket.Epoch != epoch)
        {
            bucket.Reset(epoch);
        }

        return bucket;
    }

    private static Series Slot(string instrument) => instrument switch
    {
        "outbox.messages.published" => Series.Published,
        "outbox.messages.dispatched" => Series.Dispatched,
        "outbox.messages.failed" => Series.Failed,
        "outbox.messages.retried" => Series.Retried,
        "outbox.messages.dead_lettered" => Series.DeadLettered,
        "outbox.inbox.processed" => Series.InboxProcessed,
        "outbox.inbox.duplicates" => Series.InboxDuplicates,
        "outbox.delivery.latency" => Series.DeliveryLatency,
        "outbox.dispatch.duration" => Series.DispatchDuration,
        "outbox.inbox.duration" => Series.InboxDuration,
        _ => Series.None,
    };

    private enum Series
    {
        Published,
        Dispatched,
        Failed,
        Retried,
        DeadLettered,
        InboxDeadLettered,
        InboxProcessed,
        InboxDuplicates,
        DeliveryLatency,
        DispatchDuration,
        InboxDuration,
        None,
    }

    private sealed class Bucket
    {
        public long Epoch { get; private set; } = -1;

        public long[] Counts { get; } = new long[(int)Series.DeliveryLatency];

        public Distribution Latency { get; } = new();

        public Distribution Dispatch { get; } = new();

        public Distribution Consume { get; } = new();

        public long? Pending { get; set; }

        public double? OldestAgeSeconds { get; set; }

        public long? DeadLetters { get; set; }

        public void Reset(long epoch)
        {
            Epoch = epoch;
            Array.Clear(Counts);
            Latency.Reset();
            Dispatch.Reset();
            Consume.Reset();
            Pending = null;
            OldestAgeSeconds = null;
            DeadLetters = null;
        }

        public OutboxStatsBucket ToStats(DateTimeOffset start) => new()
        {
            Start = start,
            Published = Counts[(int)Series.Published],
            Dispatched = Counts[(int)Series.Dispatched],
            Failed = Counts[(int)Series.Failed],
            Retried = Counts[(int)Series.Retried],
            DeadLettered = Counts[(int)Series.DeadLettered],
            InboxDeadLettered = Counts[(int)Series.InboxDeadLettered],
            InboxProcessed = Counts[(int)Series.InboxProcessed],
            InboxDuplicates = Counts[(int)Series.InboxDuplicates],
            LatencyP50 = Latency.Quantile(0.5),
            LatencyP95 = Latency.Quantile(0.95),
            LatencyMax = Latency.Count > 0 ? Latency.Max : null,
            DispatchP50 = Dispatch.Quantile(0.5),
            DispatchP95 = Dispatch.Quantile(0.95),
            ConsumeP50 = Consume.Quantile(0.5),
            ConsumeP95 = Consume.Quantile(0.95),
            Pending = Pending,
            OldestAgeSeconds = OldestAgeSeconds,
            DeadLetters = DeadLetters,
        };
    }

    /// <summary>Counts per bin of <see cref="Bounds"/>; quantiles interpolated within a bin and capped by the maximum seen.</summary>
    internal sealed class Distribution
    {
        private readonly long[] _bins = new long[Bounds.Length + 1];

        public long Count { get; private set; }

        public double Max { get; private set; }

        public void Add(double value)
        {
            if (double.IsNaN(value) || value < 0)
            {
                return;
            }

            var bin = Array.BinarySearch(Bounds, value);
            _bins[bin >= 0 ? bin : ~bin]++;
            Count++;
            Max = Math.Max(Max, value);
        }

        public void Reset()
        {
            Array.Clear(_bins);
            Count = 0;
            Max = 0;
        }

        public double? Quantile(double q)
        {
            if (Count == 0)
            {
                return null;
            }

            var rank = q * Count;
            long seen = 0;
            for (var i = 0; i < _bins.Length; i++)
            {
                if (_bins[i] == 0)
                {
                    continue;
                }

                if (seen + _bins[i] >= rank)
                {
                    var lower = i == 0 ? 0 : Bounds[i - 1];
                    var upper = i < Bounds.Length ? Math.Min(Bounds[i], Max) : Max;
                    var within = (rank - seen) / _bins[i];
                    return Math.Min(Max, lower + ((Math.Max(upper, lower) - lower) * within));
                }

                seen += _bins[i];
            }

            return Max;
        }
    }
}

/// <summary>One time bucket of the dashboard's history.</summary>
internal sealed record OutboxStatsBucket
{
    public DateTimeOffset Start { get; init; }

    public long Published { get; init; }

    public long Dispatched { get; init; }

    public long Failed { get; init; }

    public long Retried { get; init; }

    public long DeadLettered { get; init; }

    public long InboxDeadLettered { get; init; }

    public long InboxProcessed { get; init; }

    public long InboxDuplicates { get; init; }

    public double? LatencyP50 { get; init; }

    public double? LatencyP95 { get; init; }

    public double? LatencyMax { get; init; }

    public double? DispatchP50 { get; init; }

    public double? DispatchP95 { get; init; }

    /// <summary>Consumer latency: from a consumer's receipt of a message to its handler's commit (<c>outbox.inbox.duration</c>).</summary>
    public double? ConsumeP50 { get; init; }

    public double? ConsumeP95 { get; init; }

    public long? Pending { get; init; }

    public double? OldestAgeSeconds { get; init; }

    public long? DeadLetters { get; init; }
}
