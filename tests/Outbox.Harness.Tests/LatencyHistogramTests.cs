using Outbox.Benchmarks.Reporting;

namespace Outbox.Harness.Tests;

/// <summary>The benchmark's latency histogram: percentiles never exceed the exact maximum.</summary>
public sealed class LatencyHistogramTests
{
    [Fact]
    public void PercentileMs_ValueAtTheBottomOfAWideBucket_IsCappedAtTheRecordedMaximum()
    {
        // 3 significant digits: from 2,048 µs the buckets are 2 µs wide, and the histogram answers with a bucket's top.
        var histogram = new LatencyHistogram();
        histogram.RecordMicroseconds(1_000);
        histogram.RecordMicroseconds(2_048);

        Assert.Equal(2.048, histogram.MaxMs);
        Assert.Equal(2.048, histogram.PercentileMs(99));
        Assert.Equal(2.048, histogram.PercentileMs(100));
        Assert.Equal(1.0, histogram.PercentileMs(50));
    }

    [Fact]
    public void PercentileMs_Empty_IsNull()
    {
        var histogram = new LatencyHistogram();

        Assert.Null(histogram.PercentileMs(99));
        Assert.Null(histogram.MaxMs);
    }
}
