using Microsoft.AspNetCore.Http;
using Microsoft.EntityFrameworkCore;
using Outbox.EntityFrameworkCore;
using Outbox.Http.Tests.Infrastructure;
using Outbox.TestInfrastructure;

namespace Outbox.Http.Tests.Transport;

/// <summary>
/// Several messages per POST, end to end: a real dispatcher (SQLite outbox) posting to the consumer's HTTP inbox on
/// Kestrel (SQLite inbox), with a middleware in front of the inbox counting the requests. The messages of each test are
/// published in one transaction, so that one claim holds them all.
/// </summary>
public sealed class HttpTransportBatchTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task Send_SeveralMessagesWaiting_GoInOneSignedRequestAndEachIsHandledOnce()
    {
        using var senderDb = new TempDatabase();
        using var receiverDb = new TempDatabase();
        var log = new RequestLog();
        var (receiver, address) = await Apps.StartReceiverAsync(receiverDb, log: log);
        await using var _ = receiver;
        using var sender = await Apps.StartSenderAsync(senderDb, new Uri(address, $"/inbox/{Apps.Consumer}"));

        var ids = await Apps.PublishTogetherAsync(sender, Enumerable.Range(1, 10).Select(i => $"hello {i}"));
        await sender.Services.WaitForOutboxDeliveryAsync(Wait, TestContext.Current.CancellationToken);

        var request = Assert.Single(log.Requests);
        Assert.True(HttpBatchFormat.IsBatch(request.ContentType), request.ContentType);
        var rows = await Apps.QueryAsync<ReceiverDb, List<ReceivedGreeting>>(receiver.Services, db => db.Greetings.ToListAsync());
        Assert.Equal(ids.Order(), rows.Select(r => r.MessageId).Order());
        Assert.Equal(10, receiver.Services.GetRequiredService<GreetingCounter>().Calls);
        Assert.Equal(10, await Apps.QueryAsync<ReceiverDb, int>(receiver.Services, db => db.Set<InboxRecord>().CountAsync()));
        Assert.Equal(0, await Apps.QueryAsync<SenderDb, int>(sender.Services, db => db.Set<OutboxRecord>().CountAsync()));
        Assert.Equal(0, await Apps.QueryAsync<SenderDb, int>(sender.Services, db => db.Set<DeadLetterRecord>().CountAsync()));
    }

    [Fact]
    public async Task Send_BatchWithAPoisonMessage_ItIsDeadLetteredThereWithItsReasonAndTheOthersAreHandled()
    {
        using var senderDb = new TempDatabase();
        using var receiverDb = new TempDatabase();
        var log = new RequestLog();
        var (receiver, address) = await Apps.StartReceiverAsync(receiverDb, log: log);
        await using var _ = receiver;
        using var sender = await Apps.StartSenderAsync(senderDb, new Uri(address, $"/inbox/{Apps.Consumer}"));

        var ids = await Apps.PublishTogetherAsync(sender, ["a", "fail", "b", "c"]);
        await sender.Services.WaitForOutboxDeliveryAsync(Wait, TestContext.Current.CancellationToken);

        Assert.True(HttpBatchFormat.IsBatch(Assert.Single(log.Requests).ContentType));
        var rows = await Apps.QueryAsync<ReceiverDb, List<ReceivedGreeting>>(receiver.Services, db => db.Greetings.ToListAsync());
        Assert.Equal(["a", "b", "c"], rows.Select(r => r.Text).Order());
        var letter = Assert.Single(await Apps.QueryAsync<ReceiverDb, List<InboxDeadLetterRecord>>(receiver.Services, db => db.Set<InboxDeadLetterRecord>().ToListAsync()));
        Assert.Equal(ids[1].ToString("D"), letter.MessageId);
        Assert.Contains("this greeting always fails", letter.Reason, StringComparison.Ordinal);
        Assert.Equal(0, await Apps.QueryAsync<SenderDb, int>(sender.Services, db => db.Set<DeadLetterRecord>().CountAsync()));
        Assert.Equal(0, await Apps.QueryAsync<SenderDb, int>(sender.Services, db => db.Set<OutboxRecord>().CountAsync()));
    }

    [Fact]
    public async Task Send_BatchWithAMessageTheReceiverRejects_TheSenderDeadLettersThatOneWithTheReceiversReason()
    {
        using var senderDb = new TempDatabase();
        using var receiverDb = new TempDatabase();
        var log = new RequestLog();
        var (receiver, address) = await Apps.StartReceiverAsync(
            receiverDb, services: services => services.Configure<InboxConsumerOptions>(Apps.Consumer, o => o.MaxDeadLetters = 1), log: log);
        await using var _ = receiver;
        using var sender = await Apps.StartSenderAsync(senderDb, new Uri(address, $"/inbox/{Apps.Consumer}"));

        // The first poison message fills the receiver's dead letters; the next one in a batch is rejected.
        var first = await Apps.PublishAsync(sender, "fail");
        await sender.Services.WaitForOutboxDeliveryAsync(Wait, TestContext.Current.CancellationToken);
        var ids = await Apps.PublishTogetherAsync(sender, ["a", "fail", "b"]);
        await sender.Services.WaitForOutboxDeliveryAsync(Wait, TestContext.Current.CancellationToken);

        Assert.Single(log.Batches);
        var there = Assert.Single(await Apps.QueryAsync<ReceiverDb, List<InboxDeadLetterRecord>>(receiver.Services, db => db.Set<InboxDeadLetterRecord>().ToListAsync()));
        Assert.Equal(first.ToString("D"), there.MessageId);
        var here = Assert.Single(await Apps.QueryAsync<SenderDb, List<DeadLetterRecord>>(sender.Services, db => db.Set<DeadLetterRecord>().ToListAsync()));
        Assert.Equal(ids[1], here.MessageId);
        Assert.Contains("rejected message", here.Reason, StringComparison.Ordinal);
        Assert.Contains("MaxDeadLetters", here.Reason, StringComparison.Ordinal);
        var rows = await Apps.QueryAsync<ReceiverDb, List<ReceivedGreeting>>(receiver.Services, db => db.Greetings.ToListAsync());
        Assert.Equal(["a", "b"], rows.Select(r => r.Text).Order());
        Assert.Equal(0, await Apps.QueryAsync<SenderDb, int>(sender.Services, db => db.Set<OutboxRecord>().CountAsync()));
    }

    [Fact]
    public async Task Send_MoreThanTheByteLimit_SplitIntoSeveralBatchesAndALargeMessageGoesAlone()
    {
        const int limit = 4096;
        using var senderDb = new TempDatabase();
        using var receiverDb = new TempDatabase();
        var log = new RequestLog();
        var (receiver, address) = await Apps.StartReceiverAsync(receiverDb, log: log);
        await using var _ = receiver;
        using var sender = await Apps.StartSenderAsync(senderDb, new Uri(address, $"/inbox/{Apps.Consumer}"), http: o => o.MaxBatchBytes = limit);

        // About 1.6 KB each in a batch (base64 payload and headers): two to a request. The last is larger than the limit.
        var texts = Enumerable.Range(1, 8).Select(i => $"{i}:" + new string('x', 500)).Append("big:" + new string('y', 5000)).ToList();
        var ids = await Apps.PublishTogetherAsync(sender, texts);
        await sender.Services.WaitForOutboxDeliveryAsync(Wait, TestContext.Current.CancellationToken);

        Assert.True(log.Batches.Count >= 2, $"{log.Batches.Count} batch request(s)");
        Assert.All(log.Batches, r => Assert.True(r.Length <= limit, $"a batch of {r.Length} bytes, above the limit of {limit}"));
        var single = Assert.Single(log.Singles);
        Assert.True(single.Length > 5000, $"the single request has {single.Length} bytes");
        var rows = await Apps.QueryAsync<ReceiverDb, List<ReceivedGreeting>>(receiver.Services, db => db.Greetings.ToListAsync());
        Assert.Equal(ids.Order(), rows.Select(r => r.MessageId).Order());
        Assert.Equal(texts.Count, receiver.Services.GetRequiredService<GreetingCounter>().Calls);
    }

    [Fact]
    public async Task Send_BatchingTurnedOff_OnePostPerMessageInTheSingleFormat()
    {
        using var senderDb = new TempDatabase();
        using var receiverDb = new TempDatabase();
        var log = new RequestLog();
        var (receiver, address) = await Apps.StartReceiverAsync(receiverDb, log: log);
        await using var _ = receiver;
        using var sender = await Apps.StartSenderAsync(senderDb, new Uri(address, $"/inbox/{Apps.Consumer}"), http: o => o.MaxBatchMessages = 1);

        var ids = await Apps.PublishTogetherAsync(sender, ["a", "b", "c"]);
        await sender.Services.WaitForOutboxDeliveryAsync(Wait, TestContext.Current.CancellationToken);

        Assert.Empty(log.Batches);
        Assert.Equal(3, log.Singles.Count);
        var rows = await Apps.QueryAsync<ReceiverDb, List<ReceivedGreeting>>(receiver.Services, db => db.Greetings.ToListAsync());
        Assert.Equal(ids.Order(), rows.Select(r => r.MessageId).Order());
    }

    [Fact]
    public async Task Send_ReceiverAnswersABatchWithoutOutcomes_ItsMessagesArePostedOneByOneFromThenOn()
    {
        // A receiver that does not know batches (a hook, an older version): 200 with no per-message outcomes.
        var batches = 0;
        var singles = new System.Collections.Concurrent.ConcurrentBag<string>();
        var (stub, address) = await Apps.StartStubAsync(http =>
        {
            if (HttpBatchFormat.IsBatch(http.Request.ContentType))
            {
                Interlocked.Increment(ref batches);
            }
            else
            {
                singles.Add(http.Request.Headers[OutboxHeaders.MessageId].ToString());
            }

            http.Response.StatusCode = StatusCodes.Status200OK;
            return Task.CompletedTask;
        });
        await using var _ = stub;
        using var senderDb = new TempDatabase();
        using var sender = await Apps.StartSenderAsync(senderDb, new Uri(address, "/hook"));

        var ids = await Apps.PublishTogetherAsync(sender, ["a", "b", "c"]);
        await sender.Services.WaitForOutboxDeliveryAsync(Wait, TestContext.Current.CancellationToken);
        Assert.Equal(1, Volatile.Read(ref batches));
        Assert.Equal(ids.Select(id => id.ToString("D")).Order(), singles.Order());

        var more = await Apps.PublishTogetherAsync(sender, ["d", "e"]);
        await sender.Services.WaitForOutboxDeliveryAsync(Wait, TestContext.Current.CancellationToken);
        Assert.Equal(1, Volatile.Read(ref batches));
        Assert.Equal(5, singles.Count);
        Assert.Equal(0, await Apps.QueryAsync<SenderDb, int>(sender.Services, db => db.Set<DeadLetterRecord>().CountAsync()));
        Assert.Equal(0, await Apps.QueryAsync<SenderDb, int>(sender.Services, db => db.Set<OutboxRecord>().CountAsync()));
        Assert.Equal(2, more.Count);
    }

    [Fact]
    public async Task Send_ReceiverFailsTheWholeBatch_EveryMessageIsRetriedUntilAcceptedAndHandledOnce()
    {
        // The first answers are 503 for the whole request (an endpoint failure), then the inbox takes the batch.
        using var senderDb = new TempDatabase();
        using var receiverDb = new TempDatabase();
        var refused = 0;
        var (receiver, address) = await Apps.StartReceiverAsync(receiverDb, services: s => s.AddSingleton<Microsoft.AspNetCore.Hosting.IStartupFilter>(new RefuseFirst(3, () => Interlocked.Increment(ref refused))));
        await using var _ = receiver;
        using var sender = await Apps.StartSenderAsync(senderDb, new Uri(address, $"/inbox/{Apps.Consumer}"));

        var ids = await Apps.PublishTogetherAsync(sender, ["a", "b", "c", "d"]);
        await sender.Services.WaitForOutboxDeliveryAsync(Wait, TestContext.Current.CancellationToken);

        Assert.True(Volatile.Read(ref refused) >= 3);
        var rows = await Apps.QueryAsync<ReceiverDb, List<ReceivedGreeting>>(receiver.Services, db => db.Greetings.ToListAsync());
        Assert.Equal(ids.Order(), rows.Select(r => r.MessageId).Order());
        Assert.Equal(4, receiver.Services.GetRequiredService<GreetingCounter>().Calls);
        Assert.Equal(0, await Apps.QueryAsync<SenderDb, int>(sender.Services, db => db.Set<DeadLetterRecord>().CountAsync()));
    }

    /// <summary>Answers the first <c>count</c> requests 503 before the inbox sees them.</summary>
    private sealed class RefuseFirst(int count, Func<int> next) : Microsoft.AspNetCore.Hosting.IStartupFilter
    {
        public Action<Microsoft.AspNetCore.Builder.IApplicationBuilder> Configure(Action<Microsoft.AspNetCore.Builder.IApplicationBuilder> inner) => app =>
        {
            app.Use(following => async http =>
            {
                if (next() <= count)
                {
                    http.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
                    return;
                }

                await following(http);
            });
            inner(app);
        };
    }
}
