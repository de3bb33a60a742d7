using System.Collections.Concurrent;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Outbox.EntityFrameworkCore.Tests.Infrastructure;
using Outbox.Testing;
using Outbox.Transport.InMemory;

namespace Outbox.EntityFrameworkCore.Tests.Contract;

/// <summary>
/// The outbox contract: every provider inherits this class once and must pass all of it against a real database.
/// </summary>
public abstract class OutboxContractTests<TFixture>(TFixture fixture) : DatabaseTest<TFixture>(fixture)
    where TFixture : class, IDatabaseFixture
{
    // ---- Write API: atomicity -------------------------------------------------------------------------------

    [Fact]
    public async Task Publish_WithImplicitSaveChanges_WritesOrderAndMessageTogether()
    {
        await using (var context = Database.CreateContext())
        {
            var order = new Order { Number = "A-1", Total = 10 };
            context.Orders.Add(order);
            var id = context.Publish(new OrderPlaced(order.Id, order.Number, order.Total), new PublishOptions
            {
                PartitionKey = order.Id.ToString(),
                Destination = "orders",
                Headers = { ["tenant"] = "acme" },
            });
            await context.SaveChangesAsync(Ct);
            Assert.NotEqual(Guid.Empty, id);
        }

        await using var check = Database.CreateContext();
        var row = Assert.Single(await check.Set<OutboxRecord>().ToListAsync(Ct));
        Assert.Equal(1, await check.Orders.CountAsync(Ct));
        Assert.Equal("orders", row.Destination);
        Assert.Equal(typeof(OrderPlaced).FullName, row.MessageType);
        Assert.Equal("application/json", row.ContentType);
        Assert.Contains("\"tenant\":\"acme\"", row.Headers, StringComparison.Ordinal);
        Assert.Contains("\"number\":\"A-1\"", System.Text.Encoding.UTF8.GetString(row.Payload), StringComparison.Ordinal);
        Assert.Equal(7, row.MessageId.Version);
    }

    [Fact]
    public async Task Publish_WhenExplicitTransactionRollsBack_LeavesNoRow()
    {
        await using (var context = Database.CreateContext())
        {
            await using var transaction = await context.Database.BeginTransactionAsync(Ct);
            var order = new Order { Number = "B-1" };
            context.Orders.Add(order);
            context.Publish(new OrderPlaced(order.Id, order.Number, 0));
            await context.SaveChangesAsync(Ct);
            await transaction.RollbackAsync(Ct);
        }

        await using var check = Database.CreateContext();
        Assert.Equal(0, await check.Set<OutboxRecord>().CountAsync(Ct));
        Assert.Equal(0, await check.Orders.CountAsync(Ct));
    }

    [Fact]
    public async Task Publish_WithExplicitTransactionCommitted_WritesBothAcrossSeveralSaves()
    {
        await using (var context = Database.CreateContext())
        {
            await using var transaction = await context.Database.BeginTransactionAsync(Ct);
            var order = new Order { Number = "C-1" };
            context.Orders.Add(order);
            await context.SaveChangesAsync(Ct);
            context.Publish(new OrderPlaced(order.Id, order.Number, 0));
            await context.SaveChangesAsync(Ct);
            await transaction.CommitAsync(Ct);
        }

        await using var check = Database.CreateContext();
        Assert.Equal(1, await check.Set<OutboxRecord>().CountAsync(Ct));
        Assert.Equal(1, await check.Orders.CountAsync(Ct));
    }

    [Fact]
    public async Task Publish_WhenSaveChangesFails_LeavesNoRow()
    {
        await using (var context = Database.CreateContext())
        {
            context.Orders.Add(new Order { Number = "D-1" });
            await context.SaveChangesAsync(Ct);
        }

        await using (var context = Database.CreateContext())
        {
            var duplicate = new Order { Number = "D-1" };
            context.Orders.Add(duplicate);
            context.Publish(new OrderPlaced(duplicate.Id, duplicate.Number, 0));
            await Assert.ThrowsAsync<DbUpdateException>(() => context.SaveChangesAsync(Ct));
        }

        await using var check = Database.CreateContext();
        Assert.Equal(0, await check.Set<OutboxRecord>().CountAsync(Ct));
        Assert.Equal(1, await check.Orders.CountAsync(Ct));
    }

    [Fact]
    public async Task Publish_UnderRetryingExecutionStrategy_WritesOnceAfterATransientFailure()
    {
        var attempts = 0;
        await using (var context = Database.CreateContext(retrying: true))
        {
            var strategy = context.Database.CreateExecutionStrategy();
            await strategy.ExecuteAsync(async () =>
            {
                context.ChangeTracker.Clear();
                await using var transaction = await context.Database.BeginTransactionAsync(Ct);
                var order = new Order { Number = "E-1" };
                context.Orders.Add(order);
                context.Publish(new OrderPlaced(order.Id, order.Number, 0));
                await context.SaveChangesAsync(Ct);
                if (++attempts == 1)
                {
                    throw new SimulatedTransientException(); // the transaction is rolled back, the strategy retries
                }

                await transaction.CommitAsync(Ct);
            });
        }

        Assert.Equal(2, attempts);
        await using var check = Database.CreateContext();
        Assert.Equal(1, await check.Set<OutboxRecord>().CountAsync(Ct));
        Assert.Equal(1, await check.Orders.CountAsync(Ct));
    }

    // ---- Dispatcher ------------------------------------------------------------------------------------------

    [Fact]
    public async Task Dispatcher_PublishedMessage_IsDeliveredWithItsEnvelopeAndRowRemoved()
    {
        var transport = new InMemoryTransport();
        using var host = await OutboxTestHost.StartAsync(Database, transport);
        Guid id;
        await using (var context = Database.CreateContext())
        {
            id = context.Publish(new OrderPlaced(Guid.NewGuid(), "F-1", 5), new PublishOptions { PartitionKey = "k1", Headers = { ["h"] = "v" } });
            await context.SaveChangesAsync(Ct);
        }

        await host.Services.WaitForOutboxDeliveryAsync(DeliveryTimeout, Ct);
        var sent = Assert.Single(transport.Sent);
        Assert.Equal(id, sent.MessageId);
        Assert.Equal("k1", sent.PartitionKey);
        Assert.Equal("v", sent.Headers["h"]);
        Assert.Equal(1, sent.Attempt);
        Assert.Equal(typeof(OrderPlaced).FullName, sent.Destination);
        await host.StopAsync(Ct);
        await AssertOutboxEmptyAsync();
    }

    [Fact]
    public async Task Dispatcher_PublishInTheSameProcess_WakesTheIdleDispatcherWithoutWaitingForAPoll()
    {
        var transport = new InMemoryTransport();
        using var host = await OutboxTestHost.StartAsync(Database, transport, o => o.PollingInterval = TimeSpan.FromMinutes(5), notifications: false);
        await host.Services.WaitForOutboxDeliveryAsync(DeliveryTimeout, Ct); // the loops have looked once and gone idle
        await Task.Delay(300, Ct);

        using (var scope = host.Services.CreateScope())
        {
            var context = scope.ServiceProvider.GetRequiredService<TestDbContext>(); // configured with UseOutbox(sp)
            context.Publish(new OrderPlaced(Guid.NewGuid(), "wake", 0));
            await context.SaveChangesAsync(Ct);
        }

        // Polling alone would take minutes: the commit itself woke the loop.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (transport.AcceptedCount == 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10, Ct);
        }

        Assert.Equal(1, transport.AcceptedCount);
        await host.StopAsync(Ct);
    }

    [Fact]
    public async Task Dispatcher_FourConcurrentDispatchers_DeliverTenThousandMessagesExactlyOnce()
    {
        const int Count = 10_000;
        await SeedAsync(Count);
        var deliveries = new ConcurrentDictionary<Guid, int>();
        var transport = new InMemoryTransport
        {
            KeepMessages = false,
            OnSend = (m, _) =>
            {
                deliveries.AddOrUpdate(m.MessageId, 1, (_, n) => n + 1);
                return Task.CompletedTask;
            },
        };

        // Four dispatcher instances (as four processes would be), each with its own store and pool.
        var hosts = new List<IHost>();
        for (var i = 0; i < 4; i++)
        {
            hosts.Add(await OutboxTestHost.StartAsync(Database, transport, o => { o.Concurrency = 1; o.BatchSize = 100; }));
        }

        await hosts[0].Services.WaitForOutboxDeliveryAsync(DeliveryTimeout, Ct);
        foreach (var host in hosts)
        {
            await host.StopAsync(Ct);
            host.Dispose();
        }

        Assert.Equal(Count, deliveries.Count);
        Assert.All(deliveries, pair => Assert.Equal(1, pair.Value));
        await AssertOutboxEmptyAsync();
    }

    [Fact]
    public async Task Lease_AbandonedByCrashedDispatcher_IsReclaimedAfterExpiryAndFencesTheOldOwner()
    {
        await SeedAsync(3);
        using var host = OutboxTestHost.Build(Database, new InMemoryTransport(), o => o.Enabled = false);
        var store = host.Services.GetRequiredService<IOutboxStore>();
        var crashed = Guid.NewGuid();
        var first = await store.ClaimAsync(crashed, 10, TimeSpan.FromSeconds(1), Ct);
        Assert.Equal(3, first.Count);
        Assert.All(first, m => Assert.Equal(1, m.Attempt));

        var rescuer = Guid.NewGuid();
        Assert.Empty(await store.ClaimAsync(rescuer, 10, TimeSpan.FromSeconds(30), Ct)); // lease still held

        IReadOnlyList<OutboxMessage> second = [];
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (second.Count == 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100, Ct);
            second = await store.ClaimAsync(rescuer, 10, TimeSpan.FromSeconds(30), Ct);
        }

        Assert.Equal(first.Select(m => m.MessageId), second.Select(m => m.MessageId));
        Assert.All(second, m => Assert.Equal(2, m.Attempt));

        // The crashed owner wakes up late: its acknowledgement must not delete rows it no longer holds.
        await store.AcknowledgeAsync(crashed, first.Select(m => m.Position).ToArray(), Ct);
        Assert.Equal(3, await CountOutboxAsync());
        await store.AcknowledgeAsync(rescuer, second.Select(m => m.Position).ToArray(), Ct);
        Assert.Equal(0, await CountOutboxAsync());
    }

    [Fact]
    public async Task Dispatcher_FailingMessage_IsRetriedWithBackoffThenDeadLetteredWithReason()
    {
        var transport = new InMemoryTransport { OnSend = (_, _) => throw new InvalidOperationException("broker said no") };
        using var host = await OutboxTestHost.StartAsync(Database, transport, o =>
        {
            o.MaxAttempts = 3;
            o.RetryBaseDelay = TimeSpan.FromMilliseconds(200);
            o.RetryMaxDelay = TimeSpan.FromSeconds(1);
        });
        var started = DateTime.UtcNow;
        await SeedAsync(1);

        await host.Services.WaitForOutboxDeliveryAsync(DeliveryTimeout, Ct);
        var elapsed = DateTime.UtcNow - started;
        await host.StopAsync(Ct);

        await using var check = Database.CreateContext();
        var dead = Assert.Single(await check.Set<DeadLetterRecord>().ToListAsync(Ct));
        Assert.Equal(3, dead.Attempts);
        Assert.Contains("broker said no", dead.Reason, StringComparison.Ordinal);
        Assert.Contains("Failed 3 attempt(s)", dead.Reason, StringComparison.Ordinal);
        Assert.Equal(typeof(OrderPlaced).FullName, dead.MessageType);
        Assert.NotEmpty(dead.Payload);
        await AssertOutboxEmptyAsync();

        // 3 claims, each send tried 3 times by the in-process retry; between claims at least half of 200 ms and 400 ms.
        Assert.Equal(9, transport.SendCalls);
        Assert.True(elapsed >= TimeSpan.FromMilliseconds(300), $"retries came too soon: {elapsed}");
    }

    [Fact]
    public async Task Dispatcher_RejectedMessage_IsDeadLetteredAtOnce()
    {
        var transport = new InMemoryTransport { OnSend = (_, _) => throw new PermanentDeliveryException("message too large: 9 MB > 8 MB") };
        using var host = await OutboxTestHost.StartAsync(Database, transport);
        await SeedAsync(1);
        await host.Services.WaitForOutboxDeliveryAsync(DeliveryTimeout, Ct);
        await host.StopAsync(Ct);

        await using var check = Database.CreateContext();
        var dead = Assert.Single(await check.Set<DeadLetterRecord>().ToListAsync(Ct));
        Assert.Equal(1, dead.Attempts);
        Assert.Contains("message too large", dead.Reason, StringComparison.Ordinal);
        Assert.Equal(1, transport.SendCalls);
    }

    [Fact]
    public async Task Claim_RowAboveMaxPayloadSize_ReturnsItsSizeWithoutThePayload()
    {
        // Published under the default limit (4 MiB) and claimed under a lower one: the row is in the table anyway.
        await using (var context = Database.CreateContext())
        {
            context.Publish(new OrderPlaced(Guid.NewGuid(), new string('x', 4000), 1));
            context.Publish(new OrderPlaced(Guid.NewGuid(), "small", 2));
            await context.SaveChangesAsync(Ct);
        }

        var stored = await StoredPayloadSizesAsync();
        using var host = OutboxTestHost.Build(Database, new InMemoryTransport(), o =>
        {
            o.Enabled = false;
            o.MaxPayloadSize = 1024;
        });
        var store = host.Services.GetRequiredService<IOutboxStore>();
        var claimed = await store.ClaimAsync(Guid.NewGuid(), 10, TimeSpan.FromSeconds(30), Ct);

        Assert.Equal(2, claimed.Count);
        Assert.True(claimed[0].Payload.IsEmpty, "the payload above the limit was read");
        Assert.Equal(stored[0], claimed[0].PayloadSize);
        Assert.True(stored[0] > 4000, $"stored size {stored[0]}");
        Assert.Equal(stored[1], claimed[1].Payload.Length);
        Assert.Equal(stored[1], claimed[1].PayloadSize);
    }

    [Fact]
    public async Task Dispatcher_RowAboveMaxPayloadSize_IsDeadLetteredUnsentWithItsSizeAndTheLimit()
    {
        Guid big;
        await using (var context = Database.CreateContext())
        {
            big = context.Publish(new OrderPlaced(Guid.NewGuid(), new string('x', 4000), 1));
            context.Publish(new OrderPlaced(Guid.NewGuid(), "small", 2));
            await context.SaveChangesAsync(Ct);
        }

        var size = (await StoredPayloadSizesAsync())[0];
        var transport = new InMemoryTransport();
        using var host = await OutboxTestHost.StartAsync(Database, transport, o => o.MaxPayloadSize = 1024);
        await host.Services.WaitForOutboxDeliveryAsync(DeliveryTimeout, Ct);
        await host.StopAsync(Ct);

        var sent = Assert.Single(transport.Sent);
        Assert.NotEqual(big, sent.MessageId);
        await using var check = Database.CreateContext();
        var dead = Assert.Single(await check.Set<DeadLetterRecord>().ToListAsync(Ct));
        Assert.Equal(big, dead.MessageId);
        Assert.Equal(1, dead.Attempts);
        Assert.Contains($"The payload is {size} bytes, above the limit of 1024 bytes", dead.Reason, StringComparison.Ordinal);
        Assert.Contains("Outbox:Dispatcher:MaxPayloadSize", dead.Reason, StringComparison.Ordinal);
        Assert.Equal(size, dead.Payload.Length); // moved whole by the database, nothing lost
        await AssertOutboxEmptyAsync();
    }

    [Fact]
    public async Task DeadLetter_RowAboveMaxPayloadSize_MovesItWholeUnlessAnotherOwnerHoldsItsLease()
    {
        // Three rows in the table, the first two above the limit: one whose lease (of a dispatcher gone since) expired an
        // hour ago, one another dispatcher still holds, and an ordinary one.
        var payload = new string('x', 4000);
        Guid expired, held;
        await using (var context = Database.CreateContext())
        {
            expired = context.Publish(new OrderPlaced(Guid.NewGuid(), payload, 1));
            held = context.Publish(new OrderPlaced(Guid.NewGuid(), payload, 2));
            context.Publish(new OrderPlaced(Guid.NewGuid(), "small", 3));
            await context.SaveChangesAsync(Ct);
        }

        byte[] expiredBytes, heldBytes;
        long heldPosition;
        await using (var context = Database.CreateContext())
        {
            var rows = await context.Set<OutboxRecord>().OrderBy(r => r.Id).ToListAsync(Ct);
            rows[0].LeaseOwner = Guid.NewGuid();
            rows[0].LeaseExpiresAt = DateTime.UtcNow.AddHours(-1);
            rows[0].Attempts = 2;
            rows[1].LeaseOwner = Guid.NewGuid();
            rows[1].LeaseExpiresAt = DateTime.UtcNow.AddHours(1);
            rows[1].Attempts = 1;
            expiredBytes = rows[0].Payload;
            heldBytes = rows[1].Payload;
            heldPosition = rows[1].Id;
            await context.SaveChangesAsync(Ct);
        }

        using var host = OutboxTestHost.Build(Database, new InMemoryTransport(), o =>
        {
            o.Enabled = false;
            o.MaxPayloadSize = 1024;
        });
        var store = host.Services.GetRequiredService<IOutboxStore>();
        var owner = Guid.NewGuid();
        var claimed = await store.ClaimAsync(owner, 10, TimeSpan.FromSeconds(30), Ct);

        Assert.Equal(2, claimed.Count); // the held row is not claimable
        Assert.Equal(expired, claimed[0].MessageId);
        Assert.True(claimed[0].Payload.IsEmpty, "the payload above the limit was read");
        Assert.Equal(expiredBytes.Length, claimed[0].PayloadSize);
        Assert.Equal(3, claimed[0].Attempt); // the two before, and this one

        // Another lane claiming meanwhile does not get it too (so it is dead-lettered, logged and counted once).
        var meanwhile = await store.ClaimAsync(Guid.NewGuid(), 10, TimeSpan.FromSeconds(30), Ct);
        Assert.DoesNotContain(meanwhile, m => m.MessageId == expired);

        // The dispatcher dead-letters what it claimed above the limit; a dead letter asked for the held row is refused.
        await store.DeadLetterAsync(owner, [new OutboxDeadLetter(claimed[0].Position, "too large"), new OutboxDeadLetter(heldPosition, "too large")], Ct);

        await using var check = Database.CreateContext();
        var dead = Assert.Single(await check.Set<DeadLetterRecord>().ToListAsync(Ct));
        Assert.Equal(expired, dead.MessageId);
        Assert.Equal(expiredBytes, dead.Payload); // byte for byte
        Assert.Equal(3, dead.Attempts); // the two before, and this one
        Assert.Equal("too large", dead.Reason);
        var left = await check.Set<OutboxRecord>().OrderBy(r => r.Id).ToListAsync(Ct);
        Assert.Equal(2, left.Count);
        Assert.Equal(held, left[0].MessageId);
        Assert.Equal(heldPosition, left[0].Id);
        Assert.Equal(1, left[0].Attempts);
        Assert.Equal(heldBytes, left[0].Payload);
    }

    /// <summary>The stored payload sizes of the outbox rows, in position order.</summary>
    private async Task<long[]> StoredPayloadSizesAsync()
    {
        await using var context = Database.CreateContext();
        var rows = await context.Set<OutboxRecord>().OrderBy(r => r.Id).ToListAsync(Ct);
        return [.. rows.Select(r => (long)r.Payload.Length)];
    }

    [Fact]
    public async Task Dispatcher_PoisonMessage_DoesNotDelayOthers()
    {
        Guid poison;
        await using (var context = Database.CreateContext())
        {
            poison = context.Publish(new OrderPlaced(Guid.NewGuid(), "poison", 0));
            await context.SaveChangesAsync(Ct);
        }

        await SeedAsync(200);
        var transport = new InMemoryTransport
        {
            OnSend = (m, _) => m.MessageId == poison ? throw new InvalidOperationException("poison") : Task.CompletedTask,
        };

        // The poison message waits minutes between attempts; the 200 others must not wait with it.
        using var host = await OutboxTestHost.StartAsync(Database, transport, o =>
        {
            o.RetryBaseDelay = TimeSpan.FromMinutes(5);
            o.RetryMaxDelay = TimeSpan.FromMinutes(5);
            o.BatchSize = 50;
        });
        var deadline = DateTime.UtcNow + DeliveryTimeout;
        while (transport.AcceptedCount < 200 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20, Ct);
        }

        await host.StopAsync(Ct);
        Assert.Equal(200, transport.AcceptedCount);
        await using var check = Database.CreateContext();
        var left = Assert.Single(await check.Set<OutboxRecord>().ToListAsync(Ct));
        Assert.Equal(poison, left.MessageId);
        Assert.Contains("poison", left.LastError, StringComparison.Ordinal);
        Assert.Null(left.LeaseOwner);
        Assert.True(left.AvailableAt > DateTime.UtcNow.AddMinutes(1), $"poison rescheduled at {left.AvailableAt:O}");
    }

    [Fact]
    public async Task Dispatcher_DeliverAfter_IsHonoured()
    {
        // The send of the scheduled message is timed where it happens, so the test holds however slow the machine is
        // (a check that it was "not sent yet" after the immediate one would fail once that took longer than the delay).
        Guid later = default;
        DateTimeOffset? laterSentAt = null;
        var transport = new InMemoryTransport
        {
            OnSend = (m, _) =>
            {
                if (m.MessageId == later)
                {
                    laterSentAt ??= DateTimeOffset.UtcNow;
                }

                return Task.CompletedTask;
            },
        };
        using var host = await OutboxTestHost.StartAsync(Database, transport);
        var deliverAfter = DateTimeOffset.UtcNow.AddSeconds(2);
        Guid now;
        await using (var context = Database.CreateContext())
        {
            later = context.Publish(new OrderPlaced(Guid.NewGuid(), "later", 0), new PublishOptions { DeliverAfter = deliverAfter });
            now = context.Publish(new OrderPlaced(Guid.NewGuid(), "now", 0));
            await context.SaveChangesAsync(Ct);
        }

        await host.Services.WaitForOutboxDeliveryAsync(DeliveryTimeout, Ct); // waits for "now" only
        Assert.Contains(transport.Sent, m => m.MessageId == now);

        var deadline = DateTime.UtcNow + DeliveryTimeout;
        while (!transport.Sent.Any(m => m.MessageId == later) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20, Ct);
        }

        Assert.Contains(transport.Sent, m => m.MessageId == later);
        Assert.True(laterSentAt >= deliverAfter, $"sent at {laterSentAt:O}, before {deliverAfter:O}");
        await host.StopAsync(Ct);
    }

    [Fact]
    public async Task Shutdown_WithSendsInFlight_ReleasesTheirLeasesWithoutCountingAnAttempt()
    {
        await SeedAsync(5);
        var inFlight = 0;
        var transport = new InMemoryTransport
        {
            OnSend = async (_, token) =>
            {
                Interlocked.Increment(ref inFlight);
                await Task.Delay(Timeout.Infinite, token); // a send that never finishes on its own
            },
        };
        var host = await OutboxTestHost.StartAsync(Database, transport, o => o.ShutdownTimeout = TimeSpan.FromMilliseconds(300));
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (Volatile.Read(ref inFlight) < 5 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20, Ct);
        }

        Assert.Equal(5, Volatile.Read(ref inFlight));
        await host.StopAsync(Ct);
        host.Dispose();

        await using var check = Database.CreateContext();
        var rows = await check.Set<OutboxRecord>().ToListAsync(Ct);
        Assert.Equal(5, rows.Count);
        Assert.All(rows, r =>
        {
            Assert.Null(r.LeaseOwner);
            Assert.Null(r.LeaseExpiresAt);
            Assert.Equal(0, r.Attempts);
        });
    }

    [Fact]
    public async Task Store_ReleaseWithDelay_KeepsRowUnavailableUntilTheDatabaseClockPassesIt()
    {
        await SeedAsync(1);
        using var host = OutboxTestHost.Build(Database, new InMemoryTransport(), o => o.Enabled = false);
        var store = host.Services.GetRequiredService<IOutboxStore>();
        var owner = Guid.NewGuid();
        var claimed = Assert.Single(await store.ClaimAsync(owner, 10, TimeSpan.FromSeconds(30), Ct));
        await store.ReleaseAsync(owner, [new OutboxRelease(claimed.Position, TimeSpan.FromSeconds(1), "boom", RefundAttempt: false)], Ct);

        Assert.Empty(await store.ClaimAsync(owner, 10, TimeSpan.FromSeconds(30), Ct));
        Assert.Equal(1, await store.CountUndeliveredAsync(long.MaxValue, Ct)); // attempted, so still awaited
        await Task.Delay(1200, Ct);
        var again = Assert.Single(await store.ClaimAsync(owner, 10, TimeSpan.FromSeconds(30), Ct));
        Assert.Equal(2, again.Attempt);
    }
}
