using System.Collections.Concurrent;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Outbox.EntityFrameworkCore.Tests.Infrastructure;
using Outbox.Testing;
using Outbox.Transport.InMemory;

namespace Outbox.EntityFrameworkCore.Tests.Contract;

/// <summary>Per-key order and sequence numbers: every provider inherits this class once.</summary>
public abstract class OrderingContractTests<TFixture>(TFixture fixture) : DatabaseTest<TFixture>(fixture)
    where TFixture : class, IDatabaseFixture
{
    [Fact]
    public async Task Publish_KeyedMessages_GetConsecutiveNumbersPerKeyAndRollbackGivesThemBack()
    {
        await using (var context = Database.CreateContext())
        {
            context.Publish(new OrderPlaced(Guid.NewGuid(), "a1", 0), new PublishOptions { PartitionKey = "a" });
            context.Publish(new OrderPlaced(Guid.NewGuid(), "b1", 0), new PublishOptions { PartitionKey = "b" });
            context.Publish(new OrderPlaced(Guid.NewGuid(), "a2", 0), new PublishOptions { PartitionKey = "a" });
            context.Publish(new OrderPlaced(Guid.NewGuid(), "none", 0));
            await context.SaveChangesAsync(Ct);
        }

        await using (var context = Database.CreateContext())
        {
            await using var transaction = await context.Database.BeginTransactionAsync(Ct);
            context.Publish(new OrderPlaced(Guid.NewGuid(), "rolled back", 0), new PublishOptions { PartitionKey = "a" });
            await context.SaveChangesAsync(Ct);
            await transaction.RollbackAsync(Ct);
        }

        await using (var context = Database.CreateContext())
        {
            context.Publish(new OrderPlaced(Guid.NewGuid(), "a3", 0), new PublishOptions { PartitionKey = "a" });
            await context.SaveChangesAsync(Ct);
        }

        await using var check = Database.CreateContext();
        var rows = await check.Set<OutboxRecord>().OrderBy(r => r.Id).ToListAsync(Ct);
        Assert.Equal([1L, 1L, 2L, null, 3L], rows.Select(r => r.SequenceNumber));
        Assert.Equal(["a", "b", "a", null, "a"], rows.Select(r => r.PartitionKey));
    }

    [Fact]
    public async Task Publish_FailedSaveChangesThenRetry_NumbersWithoutGap()
    {
        await using (var context = Database.CreateContext())
        {
            context.Orders.Add(new Order { Number = "dup" });
            await context.SaveChangesAsync(Ct);
        }

        await using (var context = Database.CreateContext())
        {
            var duplicate = new Order { Number = "dup" };
            context.Orders.Add(duplicate);
            context.Publish(new OrderPlaced(duplicate.Id, "x", 0), new PublishOptions { PartitionKey = "k" });
            await Assert.ThrowsAsync<DbUpdateException>(() => context.SaveChangesAsync(Ct));
            duplicate.Number = "unique";
            await context.SaveChangesAsync(Ct); // the same message, saved on the second try
        }

        await using var check = Database.CreateContext();
        var row = Assert.Single(await check.Set<OutboxRecord>().ToListAsync(Ct));
        Assert.Equal(1, row.SequenceNumber);
    }

    [Fact]
    public async Task Dispatch_FourDispatchersAndFivePercentFailures_DeliverEveryKeyInSequence()
    {
        const int Keys = 1000;
        const int PerKey = 50;
        for (var round = 0; round < PerKey; round++)
        {
            await using var context = Database.CreateContext();
            for (var key = 0; key < Keys; key++)
            {
                context.Publish(new OrderPlaced(Guid.NewGuid(), $"{key}/{round}", round), new PublishOptions { PartitionKey = $"customer-{key}" });
            }

            await context.SaveChangesAsync(Ct);
        }

        var random = new Random(20261124);
        var accepted = new ConcurrentDictionary<string, List<long>>();
        var failures = 0;
        var transport = new InMemoryTransport
        {
            KeepMessages = false,
            OnSend = (m, _) =>
            {
                bool fail;
                lock (random)
                {
                    fail = random.NextDouble() < 0.05;
                }

                if (fail)
                {
                    Interlocked.Increment(ref failures);
                    throw new IOException("injected transport failure");
                }

                var list = accepted.GetOrAdd(m.PartitionKey!, _ => []);
                lock (list)
                {
                    list.Add(m.SequenceNumber!.Value);
                }

                return Task.CompletedTask;
            },
        };

        var hosts = new List<IHost>();
        for (var i = 0; i < 4; i++)
        {
            hosts.Add(await OutboxTestHost.StartAsync(Database, transport, o =>
            {
                o.Concurrency = 1;
                o.BatchSize = 200;
                o.MaxAttempts = 50;
                o.RetryBaseDelay = TimeSpan.FromMilliseconds(5);
                o.RetryMaxDelay = TimeSpan.FromMilliseconds(20);
            }));
        }

        await hosts[0].Services.WaitForOutboxDeliveryAsync(TimeSpan.FromMinutes(3), Ct);
        foreach (var host in hosts)
        {
            await host.StopAsync(Ct);
            host.Dispose();
        }

        Assert.True(failures > 1000, $"expected about 5% of sends to fail, saw {failures}");
        Assert.Equal(Keys, accepted.Count);
        var expected = Enumerable.Range(1, PerKey).Select(i => (long)i).ToList();
        Assert.All(accepted, pair => Assert.Equal(expected, pair.Value)); // in order, none missing, none twice
        await AssertOutboxEmptyAsync();
    }

    [Fact]
    public async Task Dispatch_HeadAbandonedByCrashedDispatcher_LaterMessagesWaitForItsReclaim()
    {
        await PublishKeyedAsync("k", 5);
        var transport = new InMemoryTransport();
        using var host = OutboxTestHost.Build(Database, transport);
        var store = host.Services.GetRequiredService<IOutboxStore>();

        // A dispatcher claims the head of "k" and dies: only the head is claimable, the rest of the key waits.
        var claimed = Assert.Single(await store.ClaimAsync(Guid.NewGuid(), 10, TimeSpan.FromSeconds(2), Ct));
        Assert.Equal(1, claimed.SequenceNumber);
        var crashedAt = DateTime.UtcNow;

        await host.StartAsync(Ct);
        await host.Services.WaitForOutboxDeliveryAsync(DeliveryTimeout, Ct);
        await host.StopAsync(Ct);

        Assert.Equal([1L, 2L, 3L, 4L, 5L], transport.Sent.Select(m => m.SequenceNumber!.Value));
        Assert.Equal(2, transport.Sent.First().Attempt);
        Assert.True(DateTime.UtcNow - crashedAt >= TimeSpan.FromSeconds(1.5), "the key moved before the abandoned lease expired");
    }

    [Theory]
    [InlineData(PartitionDeadLetterPolicy.Continue)]
    [InlineData(PartitionDeadLetterPolicy.Hold)]
    public async Task Dispatch_DeadLetteredMessage_ContinuesOrHoldsItsKeyByPolicy(PartitionDeadLetterPolicy policy)
    {
        await PublishKeyedAsync("k", 3);
        await PublishKeyedAsync("other", 2);
        var transport = new InMemoryTransport
        {
            OnSend = (m, _) => m is { PartitionKey: "k", SequenceNumber: 1 } ? throw new PermanentDeliveryException("poison") : Task.CompletedTask,
        };
        using var host = await OutboxTestHost.StartAsync(Database, transport, o => o.AfterDeadLetter = policy);
        await WaitUntilAsync(() => transport.Sent.Count(m => m.PartitionKey == "other") == 2, "the other key to be delivered");
        await using var check = Database.CreateContext();
        await WaitUntilAsync(() => check.Set<DeadLetterRecord>().Any(), "the poison message to be dead-lettered");
        Assert.Equal(1, Assert.Single(await check.Set<DeadLetterRecord>().ToListAsync(Ct)).SequenceNumber);
        if (policy == PartitionDeadLetterPolicy.Continue)
        {
            await host.Services.WaitForOutboxDeliveryAsync(DeliveryTimeout, Ct);
            Assert.Equal([2L, 3L], transport.Sent.Where(m => m.PartitionKey == "k").Select(m => m.SequenceNumber!.Value));
            await AssertOutboxEmptyAsync();
        }
        else
        {
            // Ten polling intervals (50 ms each in tests) pass: the held messages are still not claimed.
            await Task.Delay(500, Ct);
            Assert.DoesNotContain(transport.Sent, m => m.PartitionKey == "k");
            Assert.Equal(2, await CountOutboxAsync());

            // An operator deletes (or requeues) the dead letter: the key flows again, in order.
            await check.Set<DeadLetterRecord>().ExecuteDeleteAsync(Ct);
            await WaitUntilAsync(() => transport.Sent.Count(m => m.PartitionKey == "k") == 2, "the held key to flow");
            Assert.Equal([2L, 3L], transport.Sent.Where(m => m.PartitionKey == "k").Select(m => m.SequenceNumber!.Value));
        }

        await host.StopAsync(Ct);
    }

    [Fact]
    public async Task Dispatch_ScheduledHead_HoldsLaterMessagesOfItsKeyOnly()
    {
        // The head of key k is scheduled an hour ahead, so nothing here depends on how fast the machine is: progress
        // shows that claims ran (a message published after the first delivery goes through too), and the head is then
        // made due by hand.
        await using (var context = Database.CreateContext())
        {
            context.Publish(new OrderPlaced(Guid.NewGuid(), "k1", 0), new PublishOptions { PartitionKey = "k", DeliverAfter = DateTimeOffset.UtcNow.AddHours(1) });
            context.Publish(new OrderPlaced(Guid.NewGuid(), "k2", 0), new PublishOptions { PartitionKey = "k" });
            context.Publish(new OrderPlaced(Guid.NewGuid(), "o1", 0), new PublishOptions { PartitionKey = "other" });
            await context.SaveChangesAsync(Ct);
        }

        var transport = new InMemoryTransport();
        using var host = await OutboxTestHost.StartAsync(Database, transport);
        await WaitUntilAsync(() => transport.Sent.Any(m => m.PartitionKey == "other"), "the other key");
        await using (var context = Database.CreateContext())
        {
            context.Publish(new OrderPlaced(Guid.NewGuid(), "o2", 0), new PublishOptions { PartitionKey = "other" });
            await context.SaveChangesAsync(Ct);
        }

        await WaitUntilAsync(() => transport.Sent.Count(m => m.PartitionKey == "other") == 2, "the other key's later message");
        Assert.DoesNotContain(transport.Sent, m => m.PartitionKey == "k"); // k2 waited behind its scheduled head

        // The head falls due: both go, in order.
        await using (var context = Database.CreateContext())
        {
            var head = await context.Set<OutboxRecord>().SingleAsync(r => r.PartitionKey == "k" && r.SequenceNumber == 1, Ct);
            head.AvailableAt = DateTime.UtcNow.AddMinutes(-1);
            await context.SaveChangesAsync(Ct);
        }

        await host.Services.WaitForOutboxDeliveryAsync(DeliveryTimeout, Ct);
        Assert.Equal([1L, 2L], transport.Sent.Where(m => m.PartitionKey == "k").Select(m => m.SequenceNumber!.Value));
        await host.StopAsync(Ct);
    }

    private async Task PublishKeyedAsync(string key, int count)
    {
        await using var context = Database.CreateContext();
        for (var i = 0; i < count; i++)
        {
            context.Publish(new OrderPlaced(Guid.NewGuid(), $"{key}-{i}", i), new PublishOptions { PartitionKey = key });
        }

        await context.SaveChangesAsync(Ct);
    }
}
