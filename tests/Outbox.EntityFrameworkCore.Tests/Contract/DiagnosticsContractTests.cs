using System.Diagnostics;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using Outbox.EntityFrameworkCore.Tests.Infrastructure;
using Outbox.Testing;
using Outbox.Transport.InMemory;

namespace Outbox.EntityFrameworkCore.Tests.Contract;

/// <summary>Backlog readings, traces and metrics, asserted on what OpenTelemetry really exports.</summary>
public abstract class DiagnosticsContractTests<TFixture>(TFixture fixture) : DatabaseTest<TFixture>(fixture)
    where TFixture : class, IDatabaseFixture
{
    [Fact]
    public async Task Monitor_Backlog_CountsPendingOldestAndDeadLetters()
    {
        var transport = new InMemoryTransport { OnSend = (_, _) => throw new PermanentDeliveryException("no") };
        using var host = OutboxTestHost.Build(Database, transport, o => o.Enabled = false);
        var monitor = host.Services.GetRequiredService<IOutboxMonitor>();
        var empty = await monitor.GetBacklogAsync(Ct);
        Assert.Equal((0L, (DateTimeOffset?)null, 0L), (empty.Pending, empty.OldestCreatedAt, empty.DeadLetters));

        var before = DateTimeOffset.UtcNow.AddSeconds(-1);
        await SeedAsync(3);
        var store = host.Services.GetRequiredService<IOutboxStore>();
        var owner = Guid.NewGuid();
        var claimed = await store.ClaimAsync(owner, 1, TimeSpan.FromMinutes(1), Ct);
        await store.DeadLetterAsync(owner, [new OutboxDeadLetter(claimed[0].Position, "test")], Ct);

        var reading = await monitor.GetBacklogAsync(Ct);
        Assert.Equal(2, reading.Pending);
        Assert.Equal(1, reading.DeadLetters);
        Assert.NotNull(reading.OldestCreatedAt);
        Assert.InRange(reading.OldestCreatedAt!.Value, before, DateTimeOffset.UtcNow.AddSeconds(1));
        Assert.True(reading.OldestAge >= TimeSpan.Zero);
    }

    [Fact]
    public async Task Publish_PublisherClockFiveMinutesSlow_StoresCreatedAtFromTheDatabaseClock()
    {
        var slow = new SlowClock(TimeSpan.FromMinutes(5));
        using var services = new ServiceCollection().AddSingleton<TimeProvider>(slow).BuildServiceProvider();
        var options = new DbContextOptionsBuilder<TestDbContext>();
        Database.Configure(options);
        options.UseOutbox(services);
        await using (var context = new TestDbContext(options.Options))
        {
            context.Publish(new OrderPlaced(Guid.NewGuid(), "skewed", 1));
            await context.SaveChangesAsync(Ct);
        }

        using var host = OutboxTestHost.Build(Database, new InMemoryTransport(), o => o.Enabled = false);
        var reading = await host.Services.GetRequiredService<IOutboxMonitor>().GetBacklogAsync(Ct);

        // ReadAt is the database's clock now; the row was written a moment ago (generous for a loaded machine), and
        // nowhere near the publisher's clock, five minutes behind.
        var createdAt = Assert.NotNull(reading.OldestCreatedAt);
        Assert.InRange(reading.ReadAt - createdAt, TimeSpan.FromSeconds(-1), TimeSpan.FromSeconds(60));
        Assert.True(createdAt - slow.GetUtcNow() > TimeSpan.FromMinutes(4), $"created_at {createdAt:O} follows the publisher's clock ({slow.GetUtcNow():O})");
    }

    [Fact]
    public async Task Telemetry_PublishAndDispatch_ExportOneTraceAndTheCounters()
    {
        var spans = new List<Activity>();
        var metrics = new List<Metric>();
        using var tracer = Sdk.CreateTracerProviderBuilder().AddSource(OutboxTelemetry.ActivitySourceName, "Test.Orders").AddInMemoryExporter(spans).Build();
        using var meter = Sdk.CreateMeterProviderBuilder().AddMeter(OutboxTelemetry.MeterName).AddInMemoryExporter(metrics).Build();
        using var orders = new ActivitySource("Test.Orders");

        var transport = new InMemoryTransport();
        using var host = await OutboxTestHost.StartAsync(Database, transport);
        ActivityTraceId traceId;
        ActivitySpanId publisherSpan;
        using (var placeOrder = orders.StartActivity("place order"))
        {
            traceId = placeOrder!.TraceId;
            publisherSpan = placeOrder.SpanId;
            using var scope = host.Services.CreateScope();
            var context = scope.ServiceProvider.GetRequiredService<TestDbContext>();
            context.Publish(new OrderPlaced(Guid.NewGuid(), "traced", 1), new PublishOptions { Destination = "orders" });
            await context.SaveChangesAsync(Ct);
        }

        await host.Services.WaitForOutboxDeliveryAsync(DeliveryTimeout, Ct);
        await host.StopAsync(Ct);
        tracer.ForceFlush();
        meter.ForceFlush();

        var sent = Assert.Single(transport.Sent);
        Assert.Equal($"00-{traceId}-{publisherSpan}-01", sent.TraceParent);
        var dispatch = Assert.Single(spans, s => s.DisplayName == "send orders");
        Assert.Equal(ActivityKind.Producer, dispatch.Kind);
        Assert.Equal(traceId, dispatch.TraceId);
        Assert.Equal(publisherSpan, dispatch.ParentSpanId);
        Assert.Equal("orders", dispatch.GetTagItem("messaging.destination.name"));
        Assert.Equal(sent.MessageId.ToString(), dispatch.GetTagItem("messaging.message.id"));

        Assert.Equal(1, SumOf(metrics, "outbox.messages.published"));
        Assert.Equal(1, SumOf(metrics, "outbox.messages.dispatched"));
        Assert.Contains(metrics, m => m.Name == "outbox.delivery.latency");
        Assert.Contains(metrics, m => m.Name == "outbox.dispatch.duration");
    }

    private static long SumOf(List<Metric> metrics, string name)
    {
        long sum = 0;
        foreach (var metric in metrics.Where(m => m.Name == name))
        {
            foreach (ref readonly var point in metric.GetMetricPoints())
            {
                sum += point.GetSumLong();
            }
        }

        return sum;
    }

    private sealed class SlowClock(TimeSpan behind) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => System.GetUtcNow() - behind;
    }
}
