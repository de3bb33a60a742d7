using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Outbox.EntityFrameworkCore.Tests.Infrastructure;

namespace Outbox.EntityFrameworkCore.Tests.Publishing;

/// <summary>
/// <c>Publish</c> with a context registered by <c>AddDbContextPool</c>: one context instance serves lease after lease,
/// and nothing of one lease (an unsaved message, a keyed message awaiting its number) reaches the next.
/// </summary>
[Collection(TelemetryCollection.Name)] // counts the process-wide outbox.messages.published
public sealed class PooledContextPublishTests : IDisposable
{
    private readonly SqliteConnection _connection = new("Data Source=:memory:");

    public PooledContextPublishTests() => _connection.Open();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _connection.Dispose();

    [Fact]
    public async Task Publish_PooledContextReturnedWithAnUnsavedMessage_WarnsAndTheNextLeaseWritesOnlyItsOwnWithContiguousNumbers()
    {
        long published = 0;
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Name == "outbox.messages.published")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref published, value));
        listener.Start();
        var logs = new LogCapture();
        var services = new ServiceCollection();
        services.AddLogging(l => l.AddProvider(logs));
        services.AddDbContextPool<TestDbContext>((sp, o) => o.UseSqlite(_connection).UseOutbox(sp));
        await using var provider = services.BuildServiceProvider();

        TestDbContext first;
        await using (var scope = provider.CreateAsyncScope())
        {
            first = scope.ServiceProvider.GetRequiredService<TestDbContext>();
            await first.Database.EnsureCreatedAsync(Ct);
            first.Publish(new OrderPlaced(Guid.NewGuid(), "A-1", 1), new PublishOptions { PartitionKey = "customer-1" });
            first.Publish(new OrderPlaced(Guid.NewGuid(), "A-2", 2), new PublishOptions { PartitionKey = "customer-1" });
            await first.SaveChangesAsync(Ct);
        }

        await using (var scope = provider.CreateAsyncScope())
        {
            var context = scope.ServiceProvider.GetRequiredService<TestDbContext>();
            Assert.Same(first, context); // the pool hands the same instance back: what follows tests its reset
            context.Publish(new OrderPlaced(Guid.NewGuid(), "LOST", 3), new PublishOptions { PartitionKey = "customer-1" });
        }

        var warning = Assert.Single(logs.Entries, e => e.Id.Id == 1210);
        Assert.Contains("1 published message(s) that were never saved", warning.Message, StringComparison.Ordinal);

        await using (var scope = provider.CreateAsyncScope())
        {
            var context = scope.ServiceProvider.GetRequiredService<TestDbContext>();
            Assert.Same(first, context);
            Assert.Empty(context.ChangeTracker.Entries());
            context.Publish(new OrderPlaced(Guid.NewGuid(), "A-3", 4), new PublishOptions { PartitionKey = "customer-1" });
            await context.SaveChangesAsync(Ct);
        }

        await using (var scope = provider.CreateAsyncScope())
        {
            var rows = await scope.ServiceProvider.GetRequiredService<TestDbContext>().Set<OutboxRecord>()
                .OrderBy(r => r.SequenceNumber).ToListAsync(Ct);
            Assert.Equal([1L, 2L, 3L], rows.Select(r => r.SequenceNumber!.Value));
            Assert.DoesNotContain(rows, r => System.Text.Encoding.UTF8.GetString(r.Payload).Contains("LOST", StringComparison.Ordinal));
        }

        Assert.Single(logs.Entries, e => e.Id.Id == 1210); // the third lease saved what it published
        Assert.Equal(3, Interlocked.Read(ref published)); // the lost message was never counted as committed
    }
}
