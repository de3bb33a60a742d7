using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Outbox.AspNetCore.Tests.Metrics;

public sealed class OutboxMetricsAggregatorTests
{
    [Fact]
    public void Record_CountsAndLatencies_LandInTheBucketOfTheirTimeAndOldBucketsRollOff()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        using var services = new ServiceCollection().BuildServiceProvider();
        using var aggregator = new OutboxMetricsAggregator(
            Options.Create(new OutboxAdminOptions { StatsBucket = TimeSpan.FromSeconds(5), StatsWindow = TimeSpan.FromMinutes(1) }), time, services);

        aggregator.Record("outbox.messages.dispatched", 3, []);
        aggregator.Record("outbox.messages.dead_lettered", 1, [new("outbox.side", "outbox")]);
        aggregator.Record("outbox.messages.dead_lettered", 2, [new("outbox.side", "inbox")]);
        for (var i = 1; i <= 100; i++)
        {
            aggregator.Record("outbox.delivery.latency", i / 1000.0, []); // 1 ms .. 100 ms
        }

        time.Advance(TimeSpan.FromSeconds(5));
        aggregator.Record("outbox.messages.published", 7, []);

        var series = aggregator.Snapshot();
        Assert.Equal(12, series.Count);
        var previous = series[^2];
        Assert.Equal((3L, 1L, 2L), (previous.Dispatched, previous.DeadLettered, previous.InboxDeadLettered));
        Assert.InRange(previous.LatencyP50!.Value, 0.040, 0.060);
        Assert.InRange(previous.LatencyP95!.Value, 0.090, 0.100);
        Assert.Equal(0.1, previous.LatencyMax);
        Assert.Equal(7, series[^1].Published);
        Assert.Null(series[^1].LatencyP50);

        time.Advance(TimeSpan.FromMinutes(1)); // the whole window has passed
        Assert.All(aggregator.Snapshot(), b => Assert.Equal(0, b.Dispatched + b.Published));
    }

    [Fact]
    public void Record_InboxProcessedAndDuration_GiveTheConsumerThroughputAndLatency()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        using var services = new ServiceCollection().BuildServiceProvider();
        using var aggregator = new OutboxMetricsAggregator(
            Options.Create(new OutboxAdminOptions { StatsBucket = TimeSpan.FromSeconds(5), StatsWindow = TimeSpan.FromMinutes(1) }), time, services);

        for (var i = 1; i <= 100; i++)
        {
            aggregator.Record("outbox.inbox.processed", 1, [new("messaging.consumer.group.name", "payments")]);
            aggregator.Record("outbox.inbox.duration", i / 1000.0, [new("messaging.consumer.group.name", "payments")]); // 1 ms .. 100 ms
        }

        var bucket = aggregator.Snapshot()[^1];
        Assert.Equal(100, bucket.InboxProcessed);
        Assert.InRange(bucket.ConsumeP50!.Value, 0.040, 0.060);
        Assert.InRange(bucket.ConsumeP95!.Value, 0.090, 0.100);
        Assert.Null(bucket.LatencyP50); // the dispatcher's delivery latency is a different series
    }

    [Fact]
    public async Task Listener_SeesTheLibrarysMeter()
    {
        using var services = new ServiceCollection().BuildServiceProvider();
        using var aggregator = new OutboxMetricsAggregator(Options.Create(new OutboxAdminOptions()), TimeProvider.System, services);
        aggregator.Start();

        OutboxTelemetry.RecordPublished(5);
        await Task.Yield();

        Assert.True(aggregator.Snapshot().Sum(b => b.Published) >= 5);
    }
}
