using System.Diagnostics;
using HdrHistogram;

namespace Outbox.Benchmarks.Reporting;

/// <summary>A thread-safe HdrHistogram of durations, recorded in microseconds (1 µs to 1 hour, 3 significant digits).</summary>
public sealed class LatencyHistogram
{
    private static readonly double MicrosecondsPerTick = 1_000_000.0 / Stopwatch.Frequency;
    private readonly LongConcurrentHistogram _histogram = new(1, 3_600_000_000L, 3);

    // Kept apart: the histogram's own maximum enumerates its counts, which fails while another thread records.
    private long _maxMicroseconds;

    public long Count => _histogram.TotalCount;

    /// <summary>Records the time between two <see cref="Stopwatch.GetTimestamp"/> values (negative counts as 0).</summary>
    public void RecordTicks(long ticks) => RecordMicroseconds((long)(Math.Max(0, ticks) * MicrosecondsPerTick));

    public void RecordMicroseconds(long microseconds)
    {
        var value = Math.Clamp(microseconds, 1, _histogram.HighestTrackableValue);
        _histogram.RecordValue(value);
        var max = Interlocked.Read(ref _maxMicroseconds);
        while (value > max && Interlocked.CompareExchange(ref _maxMicroseconds, value, max) != max)
        {
            max = Interlocked.Read(ref _maxMicroseconds);
        }
    }

    /// <summary>
    /// The duration at <paramref name="percentile"/>. The histogram answers with the top of the value's bucket (3
    /// significant digits), which can lie just above the largest duration recorded; it is capped there, so that no
    /// percentile exceeds <see cref="MaxMs"/>.
    /// </summary>
    public double? PercentileMs(double percentile) =>
        Count == 0 ? null : Math.Min(_histogram.GetValueAtPercentile(percentile), Interlocked.Read(ref _maxMicroseconds)) / 1000.0;

    /// <summary>The largest duration recorded (exact, not bucketed); safe to read while others record.</summary>
    public double? MaxMs => Count == 0 ? null : Interlocked.Read(ref _maxMicroseconds) / 1000.0;

    public double? MeanMs => Count == 0 ? null : _histogram.GetMean() / 1000.0;

    /// <summary>Adds every duration of <paramref name="other"/> (which must not be recording meanwhile).</summary>
    public void Merge(LatencyHistogram other)
    {
        ArgumentNullException.ThrowIfNull(other);
        _histogram.Add(other._histogram);
        var max = Interlocked.Read(ref other._maxMicroseconds);
        if (max > Interlocked.Read(ref _maxMicroseconds))
        {
            Interlocked.Exchange(ref _maxMicroseconds, max);
        }
    }

    public void Reset()
    {
        _histogram.Reset();
        Interlocked.Exchange(ref _maxMicroseconds, 0);
    }
}
