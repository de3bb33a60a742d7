using System.Collections.Concurrent;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Outbox.EntityFrameworkCore.Tests.Inbox;
using Outbox.EntityFrameworkCore.Tests.Infrastructure;
using Outbox.Testing;
using Outbox.Transport.InMemory;

namespace Outbox.EntityFrameworkCore.Tests.Contract;

/// <summary>The admin store (<see cref="IOutboxAdminStore"/>, <see cref="IInboxAdminStore"/>): every provider inherits this class once.</summary>
public abstract class AdminStoreContractTests<TFixture>(TFixture fixture) : DatabaseTest<TFixture>(fixture)
    where TFixture : class, IDatabaseFixture
{
    // ---- Listing ----------------------------------------------------------------------------------------------

    [Fact]
    public async Task ListPending_PageByPage_WalksEveryRowOnceInPositionOrder()
    {
        using var host = BuildHost();
        var admin = host.Services.GetRequiredService<IOutboxAdminStore>();
        await SeedAsync(7);

        var seen = new List<long>();
        long? cursor = null;
        var pages = 0;
        do
        {
            var page = await admin.ListPendingAsync(new OutboxAdminQuery { After = cursor, PageSize = 3 }, Ct);
            Assert.InRange(page.Items.Count, 1, 3);
            seen.AddRange(page.Items.Select(m => m.Id));
            cursor = page.Next;
            pages++;
        }
        while (cursor is not null);

        Assert.Equal(3, pages);
        Assert.Equal(7, seen.Count);
        Assert.Equal(seen.Order(), seen);

        var newestFirst = await admin.ListPendingAsync(new OutboxAdminQuery { Descending = true, PageSize = 5 }, Ct);
        Assert.Equal(seen.AsEnumerable().Reverse().Take(5), newestFirst.Items.Select(m => m.Id));
        var rest = await admin.ListPendingAsync(new OutboxAdminQuery { Descending = true, PageSize = 5, After = newestFirst.Next }, Ct);
        Assert.Equal(seen.Take(2).Reverse(), rest.Items.Select(m => m.Id));
        Assert.Null(rest.Next);
    }

    [Fact]
    public async Task ListPending_WithFilters_MatchesExactlyAndTimeRangeIsHalfOpen()
    {
        using var host = BuildHost();
        var admin = host.Services.GetRequiredService<IOutboxAdminStore>();
        await using (var context = Database.CreateContext())
        {
            context.Publish(new OrderPlaced(Guid.NewGuid(), "1", 1), new PublishOptions { Destination = "orders", PartitionKey = "k1" });
            context.Publish(new OrderPlaced(Guid.NewGuid(), "2", 2), new PublishOptions { Destination = "orders", PartitionKey = "k2" });
            context.Publish(new OrderPlaced(Guid.NewGuid(), "3", 3), new PublishOptions { Destination = "billing", PartitionKey = "k1", MessageType = "billing.v1" });
            await context.SaveChangesAsync(Ct);
        }

        Assert.Equal(2, (await admin.ListPendingAsync(new OutboxAdminQuery { Destination = "orders" }, Ct)).Items.Count);
        Assert.Equal(2, (await admin.ListPendingAsync(new OutboxAdminQuery { PartitionKey = "k1" }, Ct)).Items.Count);
        var billing = Assert.Single((await admin.ListPendingAsync(new OutboxAdminQuery { MessageType = "billing.v1" }, Ct)).Items);
        Assert.Equal(("billing", "k1", 2L), (billing.Destination, billing.PartitionKey!, billing.SequenceNumber!.Value));
        Assert.Empty((await admin.ListPendingAsync(new OutboxAdminQuery { Destination = "orders", MessageType = "billing.v1" }, Ct)).Items);
        Assert.Empty((await admin.ListPendingAsync(new OutboxAdminQuery { Destination = "ORDERS" }, Ct)).Items);

        var created = billing.CreatedAt;
        Assert.Equal(3, (await admin.ListPendingAsync(new OutboxAdminQuery { From = created.AddMinutes(-5), To = created.AddMinutes(5) }, Ct)).Items.Count);
        Assert.Empty((await admin.ListPendingAsync(new OutboxAdminQuery { From = created.AddMinutes(1) }, Ct)).Items);
        Assert.Empty((await admin.ListPendingAsync(new OutboxAdminQuery { To = created.AddMinutes(-1) }, Ct)).Items);
    }

    [Fact]
    public async Task ListPending_ShowsReadyLeasedAndScheduledStates()
    {
        using var host = BuildHost();
        var admin = host.Services.GetRequiredService<IOutboxAdminStore>();
        await SeedAsync(2);
        await using (var context = Database.CreateContext())
        {
            context.Publish(new OrderPlaced(Guid.NewGuid(), "later", 0), new PublishOptions { DeliverAfter = DateTimeOffset.UtcNow.AddHours(1) });
            await context.SaveChangesAsync(Ct);
        }

        var store = host.Services.GetRequiredService<IOutboxStore>();
        var claimed = Assert.Single(await store.ClaimAsync(Guid.NewGuid(), 1, TimeSpan.FromMinutes(5), Ct));

        var items = (await admin.ListPendingAsync(new OutboxAdminQuery(), Ct)).Items;
        Assert.Equal(
            [OutboxAdminMessageState.Leased, OutboxAdminMessageState.Ready, OutboxAdminMessageState.Scheduled],
            items.Select(m => m.State));
        Assert.Equal(claimed.Position, items[0].Id);
        Assert.Equal(1, items[0].Attempts);
        Assert.NotNull(items[0].LeaseExpiresAt);
        Assert.NotNull(items[2].AvailableAt);
        Assert.All(items, m => Assert.Null(m.Payload));
    }

    [Fact]
    public async Task Query_OutOfRange_IsRejectedNamingTheProperty()
    {
        using var host = BuildHost();
        var admin = host.Services.GetRequiredService<IOutboxAdminStore>();
        var tooBig = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(
            () => admin.ListPendingAsync(new OutboxAdminQuery { PageSize = OutboxAdminQuery.MaxPageSize + 1 }, Ct));
        Assert.Equal(nameof(OutboxAdminQuery.PageSize), tooBig.ParamName);
        var reversed = await Assert.ThrowsAsync<ArgumentException>(
            () => admin.ListDeadLettersAsync(new OutboxAdminQuery { From = DateTimeOffset.UtcNow, To = DateTimeOffset.UtcNow.AddDays(-1) }, Ct));
        Assert.Equal(nameof(OutboxAdminQuery.From), reversed.ParamName);
        await Assert.ThrowsAsync<ArgumentException>(() => admin.RequeueDeadLettersAsync([0], Ct));
        await Assert.ThrowsAsync<ArgumentException>(
            () => admin.PurgeDeadLettersAsync(Enumerable.Range(1, OutboxAdminQuery.MaxBatchSize + 1).Select(i => (long)i).ToList(), Ct));
    }

    // ---- One message ------------------------------------------------------------------------------------------

    [Fact]
    public async Task GetPending_TextualPayload_ComesAsTextWithHeadersAndTraceParent()
    {
        using var host = BuildHost();
        var admin = host.Services.GetRequiredService<IOutboxAdminStore>();
        Guid id;
        await using (var context = Database.CreateContext())
        {
            id = context.Publish(new OrderPlaced(Guid.NewGuid(), "N-1", 12.5m), new PublishOptions { Headers = { ["tenant"] = "acme" } });
            await context.SaveChangesAsync(Ct);
        }

        var row = Assert.Single((await admin.ListPendingAsync(new OutboxAdminQuery(), Ct)).Items);
        var message = await admin.GetPendingAsync(row.Id, Ct);
        Assert.NotNull(message);
        Assert.Equal(id, message.MessageId);
        Assert.Equal("acme", message.Headers!["tenant"]);
        Assert.Equal(OutboxAdminPayload.Utf8, message.Payload!.Encoding);
        Assert.Contains("\"number\":\"N-1\"", message.Payload.Data, StringComparison.Ordinal);
        Assert.Equal(message.Payload.Length, row.PayloadLength);
        Assert.Null(await admin.GetPendingAsync(row.Id + 1000, Ct));
        Assert.Null(await admin.GetDeadLetterAsync(row.Id, Ct));
    }

    [Fact]
    public async Task GetDeadLetter_BinaryPayload_ComesAsBase64WithTheReason()
    {
        using var host = BuildHost();
        var admin = host.Services.GetRequiredService<IOutboxAdminStore>();
        byte[] bytes = [0xff, 0x00, 0xfe, 0x41];
        await using (var context = Database.CreateContext())
        {
            context.Set<DeadLetterRecord>().Add(NewDeadLetter(41, bytes, "application/octet-stream", "broker said no"));
            await context.SaveChangesAsync(Ct);
        }

        var message = await admin.GetDeadLetterAsync(41, Ct);
        Assert.NotNull(message);
        Assert.Equal(OutboxAdminMessageState.DeadLettered, message.State);
        Assert.Equal("broker said no", message.Error);
        Assert.NotNull(message.DeadLetteredAt);
        Assert.Equal(OutboxAdminPayload.Base64, message.Payload!.Encoding);
        Assert.Equal(bytes, Convert.FromBase64String(message.Payload.Data));
        Assert.Equal(4, message.PayloadLength);
    }

    // ---- Requeue ----------------------------------------------------------------------------------------------

    [Fact]
    public async Task Requeue_DeadLetters_MovesThemBackKeepingIdKeyAndSequenceWithNewPositionAndNoAttempts()
    {
        using var host = BuildHost();
        var admin = host.Services.GetRequiredService<IOutboxAdminStore>();
        await using (var context = Database.CreateContext())
        {
            context.Publish(new OrderPlaced(Guid.NewGuid(), "a1", 0), new PublishOptions { PartitionKey = "a" });
            context.Publish(new OrderPlaced(Guid.NewGuid(), "b1", 0), new PublishOptions { PartitionKey = "b" });
            context.Publish(new OrderPlaced(Guid.NewGuid(), "none", 0));
            await context.SaveChangesAsync(Ct);
        }

        var dead = await DeadLetterAllAsync(host, "failed 10 attempts");
        Assert.Equal(3, dead.Count);
        var before = (await admin.ListDeadLettersAsync(new OutboxAdminQuery(), Ct)).Items;
        Assert.Equal(3, before.Count);
        await SeedAsync(1); // a newer message: requeued ones must get positions after it

        var result = await admin.RequeueDeadLettersAsync([before[2].Id, before[0].Id, before[1].Id, 9_999], Ct);

        Assert.Equal([9_999L], result.NotFound);
        Assert.Equal(before.Select(m => m.Id), result.Requeued.Select(r => r.DeadLetterId));
        Assert.Equal(before.Select(m => m.MessageId), result.Requeued.Select(r => r.MessageId));
        Assert.Empty((await admin.ListDeadLettersAsync(new OutboxAdminQuery(), Ct)).Items);

        await using var check = Database.CreateContext();
        var rows = await check.Set<OutboxRecord>().OrderBy(r => r.Id).ToListAsync(Ct);
        Assert.Equal(4, rows.Count);
        var requeued = rows.Skip(1).ToList();
        Assert.True(requeued.All(r => r.Id > rows[0].Id), "requeued rows get new positions");
        Assert.Equal(result.Requeued.Select(r => r.Position), requeued.Select(r => r.Id));
        Assert.Equal(before.Select(m => (m.MessageId, m.PartitionKey, m.SequenceNumber)), requeued.Select(r => (r.MessageId, r.PartitionKey, r.SequenceNumber)));
        Assert.All(requeued, r =>
        {
            Assert.Equal(0, r.Attempts);
            Assert.Null(r.LeaseOwner);
            Assert.Null(r.LastError);
            Assert.Null(r.AvailableAt);
        });

        // Requeuing again finds nothing: a dead letter moves once.
        var again = await admin.RequeueDeadLettersAsync([before[0].Id], Ct);
        Assert.Empty(again.Requeued);
        Assert.Equal([before[0].Id], again.NotFound);
    }

    [Fact]
    public async Task Requeue_UnderHoldPolicy_DeliversTheRequeuedMessageBeforeTheLaterMessagesOfItsKey()
    {
        var transport = new InMemoryTransport();
        var fail = true;
        transport.OnSend = (m, _) => fail && m.SequenceNumber == 1 ? throw new PermanentDeliveryException("rejected") : Task.CompletedTask;
        using var host = await OutboxTestHost.StartAsync(Database, transport, o => o.AfterDeadLetter = PartitionDeadLetterPolicy.Hold);
        var admin = host.Services.GetRequiredService<IOutboxAdminStore>();
        var ids = new List<Guid>();
        await using (var context = Database.CreateContext())
        {
            for (var i = 1; i <= 3; i++)
            {
                ids.Add(context.Publish(new OrderPlaced(Guid.NewGuid(), $"k{i}", i), new PublishOptions { PartitionKey = "k" }));
            }

            await context.SaveChangesAsync(Ct);
        }

        OutboxAdminMessage? deadLetter = null;
        await WaitUntilAsync(
            () => (deadLetter = admin.ListDeadLettersAsync(new OutboxAdminQuery(), Ct).GetAwaiter().GetResult().Items.SingleOrDefault()) is not null,
            "the first message of the key to be dead-lettered");
        Assert.Equal(ids[0], deadLetter!.MessageId);
        await Task.Delay(300, Ct);
        Assert.Empty(transport.Sent); // the key is held behind its dead letter
        Assert.Equal(2, (await admin.ListPendingAsync(new OutboxAdminQuery(), Ct)).Items.Count);

        fail = false;
        var result = await admin.RequeueDeadLettersAsync([deadLetter.Id], Ct);
        Assert.Single(result.Requeued);
        await host.Services.GetRequiredService<OutboxDeliveryAwaiter>().WaitForDeliveryAsync(DeliveryTimeout, Ct);

        Assert.Equal(ids, transport.Sent.Select(m => m.MessageId));
        Assert.Equal([1L, 2L, 3L], transport.Sent.Select(m => m.SequenceNumber!.Value));
        await AssertOutboxEmptyAsync();
        await host.StopAsync(Ct);
    }

    // ---- Purge ------------------------------------------------------------------------------------------------

    [Fact]
    public async Task Purge_ByIdsAndByAge_DeletesOnlyThose()
    {
        using var host = BuildHost();
        var admin = host.Services.GetRequiredService<IOutboxAdminStore>();
        var now = DateTime.UtcNow;
        await using (var context = Database.CreateContext())
        {
            context.Set<DeadLetterRecord>().AddRange(
                NewDeadLetter(1, "{}"u8.ToArray(), "application/json", "old", now.AddDays(-10)),
                NewDeadLetter(2, "{}"u8.ToArray(), "application/json", "old", now.AddDays(-8)),
                NewDeadLetter(3, "{}"u8.ToArray(), "application/json", "recent", now.AddHours(-1)),
                NewDeadLetter(4, "{}"u8.ToArray(), "application/json", "recent", now.AddMinutes(-1)));
            await context.SaveChangesAsync(Ct);
        }

        var lastWeek = await admin.ListDeadLettersAsync(new OutboxAdminQuery { From = now.AddDays(-7) }, Ct);
        Assert.Equal([3L, 4L], lastWeek.Items.Select(m => m.Id));

        Assert.Equal(1, await admin.PurgeDeadLettersAsync([4, 77], Ct));
        Assert.Equal(2, await admin.PurgeDeadLettersBeforeAsync(now.AddDays(-7), Ct));
        Assert.Equal([3L], (await admin.ListDeadLettersAsync(new OutboxAdminQuery(), Ct)).Items.Select(m => m.Id));
        Assert.Equal(0, await admin.PurgeDeadLettersAsync([], Ct));
    }

    // ---- Inbox dead letters -----------------------------------------------------------------------------------

    [Fact]
    public async Task InboxAdmin_ContextWithoutInbox_IsUnavailableAndEmpty()
    {
        using var host = BuildHost();
        var inbox = host.Services.GetRequiredService<IInboxAdminStore>();
        Assert.False(await inbox.IsAvailableAsync(Ct));
        Assert.Empty((await inbox.ListDeadLettersAsync(new OutboxAdminQuery(), null, Ct)).Items);
        Assert.Null(await inbox.GetDeadLetterAsync(1, Ct));
    }

    [Fact]
    public async Task InboxAdmin_ListsReadsAndPurgesInboxDeadLetters()
    {
        await InboxTestDbContext.CreateTablesAsync(Database);
        var services = new ServiceCollection();
        services.AddDbContext<InboxTestDbContext>(o => Database.Configure(o));
        services.AddInboxAdmin<InboxTestDbContext>();
        await using var provider = services.BuildServiceProvider();
        var inbox = provider.GetRequiredService<IInboxAdminStore>();
        Assert.True(await inbox.IsAvailableAsync(Ct));

        var now = DateTime.UtcNow;
        await using (var context = InboxTestDbContext.Create(Database))
        {
            for (var i = 0; i < 5; i++)
            {
                context.Set<InboxDeadLetterRecord>().Add(new InboxDeadLetterRecord
                {
                    Consumer = i < 3 ? "payments" : "ledger",
                    MessageId = Guid.NewGuid().ToString(),
                    MessageType = "AccountCredited",
                    Payload = Encoding.UTF8.GetBytes($$"""{"n":{{i}}}"""),
                    ContentType = "application/json",
                    Headers = """{"tenant":"acme"}""",
                    Reason = $"handler failed {i}",
                    Attempts = 3,
                    ReceivedAt = now.AddMinutes(-10),
                    DeadLetteredAt = now.AddMinutes(i - 10),
                });
            }

            await context.SaveChangesAsync(Ct);
        }

        var payments = await inbox.ListDeadLettersAsync(new OutboxAdminQuery { PageSize = 2 }, "payments", Ct);
        Assert.Equal(2, payments.Items.Count);
        Assert.NotNull(payments.Next);
        var rest = await inbox.ListDeadLettersAsync(new OutboxAdminQuery { PageSize = 2, After = payments.Next }, "payments", Ct);
        Assert.Single(rest.Items);
        Assert.Null(rest.Next);
        Assert.All(payments.Items.Concat(rest.Items), d => Assert.Equal("payments", d.Consumer));

        var one = await inbox.GetDeadLetterAsync(payments.Items[0].Id, Ct);
        Assert.Equal("""{"n":0}""", one!.Payload!.Data);
        Assert.Equal("acme", one.Headers!["tenant"]);
        Assert.Equal("handler failed 0", one.Reason);

        // The inbox marks a dead-lettered message as handled (processed_at NULL) so that a redelivery is skipped.
        var purgedId = Guid.Parse(one.MessageId!);
        var keptId = Guid.Parse(payments.Items[1].MessageId!);
        await using (var context = InboxTestDbContext.Create(Database))
        {
            context.Set<InboxRecord>().AddRange(
                new InboxRecord { Consumer = "payments", MessageId = purgedId, ReceivedAt = now },
                new InboxRecord { Consumer = "payments", MessageId = keptId, ReceivedAt = now });
            await context.SaveChangesAsync(Ct);
        }

        Assert.Equal(1, await inbox.PurgeDeadLettersAsync([one.Id], Ct));
        await using (var context = InboxTestDbContext.Create(Database))
        {
            // Purged: the marker went with it, so the same message published again is processed, not skipped.
            Assert.False(await context.Set<InboxRecord>().AnyAsync(r => r.MessageId == purgedId, Ct));
            Assert.True(await context.Set<InboxRecord>().AnyAsync(r => r.MessageId == keptId, Ct));
        }

        Assert.Equal(1, await inbox.PurgeDeadLettersBeforeAsync(now.AddMinutes(-8.5), Ct)); // the one 9 minutes old
        Assert.Equal(3, (await inbox.ListDeadLettersAsync(new OutboxAdminQuery(), null, Ct)).Items.Count);
    }

    // ---- Helpers ----------------------------------------------------------------------------------------------

    private IHost BuildHost() => OutboxTestHost.Build(Database, new InMemoryTransport(), o => o.Enabled = false);

    /// <summary>Claims every waiting row (head of each key first) and dead-letters it, as the dispatcher would.</summary>
    private static async Task<List<OutboxMessage>> DeadLetterAllAsync(IHost host, string reason)
    {
        var store = host.Services.GetRequiredService<IOutboxStore>();
        var owner = Guid.NewGuid();
        var all = new List<OutboxMessage>();
        while (true)
        {
            var batch = await store.ClaimAsync(owner, 100, TimeSpan.FromMinutes(1), Ct);
            if (batch.Count == 0)
            {
                return all;
            }

            await store.DeadLetterAsync(owner, batch.Select(m => new OutboxDeadLetter(m.Position, reason)).ToList(), Ct);
            all.AddRange(batch);
        }
    }

    private static DeadLetterRecord NewDeadLetter(long id, byte[] payload, string contentType, string reason, DateTime? at = null) => new()
    {
        Id = id,
        MessageId = Guid.CreateVersion7(),
        Destination = "orders",
        MessageType = "OrderPlaced",
        Payload = payload,
        ContentType = contentType,
        CreatedAt = DateTime.UtcNow.AddDays(-30),
        Attempts = 10,
        Reason = reason,
        DeadLetteredAt = at ?? DateTime.UtcNow,
    };
}
