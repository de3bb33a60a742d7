using Microsoft.AspNetCore.Http;
using Microsoft.EntityFrameworkCore;
using Outbox.EntityFrameworkCore;
using Outbox.Http.Tests.Infrastructure;
using Outbox.TestInfrastructure;

namespace Outbox.Http.Tests.Transport;

/// <summary>
/// Several messages per POST, end to end: a real dispatcher (SQLite outbox) posting to the consumer's HTTP inbox on
/// Kestrel (SQLite inbox), with a middleware in front of the inbox counting the requests. The messages of each test are
/// published in one transaction, so that one claim holds them all, after a first message on its own (the warm-up): the
/// sender batches to a URL once its receiver has said it takes batches.
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

        var warmUp = await WarmUpAsync(sender, log);
        var ids = await Apps.PublishTogetherAsync(sender, Enumerable.Range(1, 10).Select(i => $"hello {i}"));
        await sender.Services.WaitForOutboxDeliveryAsync(Wait, TestContext.Current.CancellationToken);

        var request = Assert.Single(log.Requests);
        Assert.True(HttpBatchFormat.IsBatch(request.ContentType), request.ContentType);
        var rows = await Apps.QueryAsync<ReceiverDb, List<ReceivedGreeting>>(receiver.Services, db => db.Greetings.ToListAsync());
        Assert.Equal(ids.Append(warmUp).Order(), rows.Select(r => r.MessageId).Order());
        Assert.Equal(11, receiver.Services.GetRequiredService<GreetingCounter>().Calls);
        Assert.Equal(11, await Apps.QueryAsync<ReceiverDb, int>(receiver.Services, db => db.Set<InboxRecord>().CountAsync()));
        Assert.Equal(0, await Apps.QueryAsync<SenderDb, int>(sender.Services, db => db.Set<OutboxRecord>().CountAsync()));
        Assert.Equal(0, await Apps.QueryAsync<SenderDb, int>(sender.Services, db => db.Set<DeadLetterRecord>().CountAsync()));
    }

    [Fact]
    public async Task Send_SeveralMessagesWaitingForAPostgreSqlInbox_OneRequestAndEachHandledOnceInOneInboxBatch()
    {
        var server = await PostgresServer.AcquireAsync(TestContext.Current.CancellationToken);
        var postgres = await server.CreateDatabaseAsync("http_batch", TestContext.Current.CancellationToken);
        using var senderDb = new TempDatabase();
        using var unused = new TempDatabase();
        var log = new RequestLog();
        var (receiver, address) = await Apps.StartReceiverAsync(
            unused, services: s => s.Configure<InboxConsumerOptions>(Apps.Consumer, o => o.MaxBatchSize = 50), log: log, postgres: postgres);
        await using var _ = receiver;
        using var sender = await Apps.StartSenderAsync(senderDb, new Uri(address, $"/inbox/{Apps.Consumer}"));

        var warmUp = await WarmUpAsync(sender, log);
        var ids = await DeliverAsync(sender, [.. Enumerable.Range(1, 20).Select(i => $"hello {i}")]);

        Assert.True(HttpBatchFormat.IsBatch(Assert.Single(log.Requests).ContentType));
        var rows = await Apps.QueryAsync<ReceiverDb, List<ReceivedGreeting>>(receiver.Services, db => db.Greetings.ToListAsync());
        Assert.Equal(ids.Append(warmUp).Order(), rows.Select(r => r.MessageId).Order());
        Assert.Equal(21, await Apps.QueryAsync<ReceiverDb, int>(receiver.Services, db => db.Set<InboxRecord>().CountAsync()));
        Assert.Equal(21, receiver.Services.GetRequiredService<GreetingCounter>().Calls);
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

        await WarmUpAsync(sender, log);
        var ids = await Apps.PublishTogetherAsync(sender, ["a", "fail", "b", "c"]);
        await sender.Services.WaitForOutboxDeliveryAsync(Wait, TestContext.Current.CancellationToken);

        Assert.True(HttpBatchFormat.IsBatch(Assert.Single(log.Requests).ContentType));
        var rows = await Apps.QueryAsync<ReceiverDb, List<ReceivedGreeting>>(receiver.Services, db => db.Greetings.ToListAsync());
        Assert.Equal(["a", "b", "c", "warm-up"], rows.Select(r => r.Text).Order());
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
        var warmUp = await WarmUpAsync(sender, log);
        var texts = Enumerable.Range(1, 8).Select(i => $"{i}:" + new string('x', 500)).Append("big:" + new string('y', 5000)).ToList();
        var ids = await Apps.PublishTogetherAsync(sender, texts);
        await sender.Services.WaitForOutboxDeliveryAsync(Wait, TestContext.Current.CancellationToken);

        Assert.True(log.Batches.Count >= 2, $"{log.Batches.Count} batch request(s)");
        Assert.All(log.Batches, r => Assert.True(r.Length <= limit, $"a batch of {r.Length} bytes, above the limit of {limit}"));
        var single = Assert.Single(log.Singles);
        Assert.True(single.Length > 5000, $"the single request has {single.Length} bytes");
        var rows = await Apps.QueryAsync<ReceiverDb, List<ReceivedGreeting>>(receiver.Services, db => db.Greetings.ToListAsync());
        Assert.Equal(ids.Append(warmUp).Order(), rows.Select(r => r.MessageId).Order());
        Assert.Equal(texts.Count + 1, receiver.Services.GetRequiredService<GreetingCounter>().Calls);
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

        var warmUp = await WarmUpAsync(sender, log);
        var ids = await Apps.PublishTogetherAsync(sender, ["a", "b", "c"]);
        await sender.Services.WaitForOutboxDeliveryAsync(Wait, TestContext.Current.CancellationToken);

        Assert.Empty(log.Batches);
        Assert.Equal(3, log.Singles.Count);
        var rows = await Apps.QueryAsync<ReceiverDb, List<ReceivedGreeting>>(receiver.Services, db => db.Greetings.ToListAsync());
        Assert.Equal(ids.Append(warmUp).Order(), rows.Select(r => r.MessageId).Order());
    }

    [Fact]
    public async Task Send_ReceiverNeverSaysItTakesBatches_OnePostPerMessage()
    {
        // A webhook that is not the library's inbox: it never gets a batch body it would not understand.
        var posts = new StubPosts(advertiseBatches: false);
        var (stub, address) = await Apps.StartStubAsync(posts.AnswerAsync);
        await using var _ = stub;
        using var senderDb = new TempDatabase();
        using var sender = await Apps.StartSenderAsync(senderDb, new Uri(address, "/hook"));

        await DeliverAsync(sender, "first");
        var ids = await DeliverAsync(sender, "a", "b", "c");

        Assert.Equal(0, posts.Batches);
        Assert.Equal(4, posts.Singles.Count);
        Assert.Superset(ids.Select(id => id.ToString("D")).ToHashSet(), posts.Singles.ToHashSet());
    }

    [Fact]
    public async Task Send_ReceiverAnswersABatchWithoutOutcomes_ItsMessagesArePostedOneByOneFromThenOn()
    {
        // Something between sender and inbox (a proxy answering for it) says batches, then answers one with a bare 200.
        var posts = new StubPosts(advertiseBatches: true);
        var (stub, address) = await Apps.StartStubAsync(posts.AnswerAsync);
        await using var _ = stub;
        using var senderDb = new TempDatabase();
        using var sender = await Apps.StartSenderAsync(senderDb, new Uri(address, "/hook"));
        await DeliverAsync(sender, "first");

        var ids = await DeliverAsync(sender, "a", "b", "c");
        Assert.Equal(1, posts.Batches);
        Assert.Superset(ids.Select(id => id.ToString("D")).ToHashSet(), posts.Singles.ToHashSet());

        await DeliverAsync(sender, "d", "e");
        Assert.Equal(1, posts.Batches);
        Assert.Equal(6, posts.Singles.Count);
        Assert.Equal(0, await Apps.QueryAsync<SenderDb, int>(sender.Services, db => db.Set<DeadLetterRecord>().CountAsync()));
        Assert.Equal(0, await Apps.QueryAsync<SenderDb, int>(sender.Services, db => db.Set<OutboxRecord>().CountAsync()));
    }

    [Fact]
    public async Task Send_ReceiverFailsTheWholeBatch_EveryMessageIsRetriedUntilAcceptedAndHandledOnce()
    {
        // The first answers are 503 for the whole request (an endpoint failure), then the inbox takes the batch.
        using var senderDb = new TempDatabase();
        using var receiverDb = new TempDatabase();
        var refusals = new Refusals();
        var log = new RequestLog();
        var (receiver, address) = await Apps.StartReceiverAsync(
            receiverDb, services: s => s.AddSingleton<Microsoft.AspNetCore.Hosting.IStartupFilter>(new RefuseFirst(refusals)), log: log);
        await using var _ = receiver;
        using var sender = await Apps.StartSenderAsync(senderDb, new Uri(address, $"/inbox/{Apps.Consumer}"));
        var warmUp = await WarmUpAsync(sender, log);

        Volatile.Write(ref refusals.Remaining, 3);
        var ids = await Apps.PublishTogetherAsync(sender, ["a", "b", "c", "d"]);
        await sender.Services.WaitForOutboxDeliveryAsync(Wait, TestContext.Current.CancellationToken);

        Assert.True(Volatile.Read(ref refusals.Remaining) <= 0);
        Assert.NotEmpty(log.Batches);
        var rows = await Apps.QueryAsync<ReceiverDb, List<ReceivedGreeting>>(receiver.Services, db => db.Greetings.ToListAsync());
        Assert.Equal(ids.Append(warmUp).Order(), rows.Select(r => r.MessageId).Order());
        Assert.Equal(5, receiver.Services.GetRequiredService<GreetingCounter>().Calls);
        Assert.Equal(0, await Apps.QueryAsync<SenderDb, int>(sender.Services, db => db.Set<DeadLetterRecord>().CountAsync()));
    }

    /// <summary>One message on its own, delivered: its answer tells the sender that the inbox takes batches. The log forgets it.</summary>
    private static async Task<Guid> WarmUpAsync(Microsoft.Extensions.Hosting.IHost sender, RequestLog log)
    {
        var id = await Apps.PublishAsync(sender, "warm-up");
        await sender.Services.WaitForOutboxDeliveryAsync(Wait, TestContext.Current.CancellationToken);
        log.Clear();
        return id;
    }

    /// <summary>Publishes <paramref name="texts"/> in one transaction and waits until the outbox has delivered them.</summary>
    private static async Task<List<Guid>> DeliverAsync(Microsoft.Extensions.Hosting.IHost sender, params string[] texts)
    {
        var ids = await Apps.PublishTogetherAsync(sender, texts);
        await sender.Services.WaitForOutboxDeliveryAsync(Wait, TestContext.Current.CancellationToken);
        return ids;
    }

    /// <summary>A stub receiver's count of batch POSTs and the message ids of single POSTs; answers 200 with no body.</summary>
    private sealed class StubPosts(bool advertiseBatches)
    {
        private int _batches;

        public int Batches => Volatile.Read(ref _batches);

        public System.Collections.Concurrent.ConcurrentBag<string> Singles { get; } = [];

        public Task AnswerAsync(HttpContext http)
        {
            if (advertiseBatches)
            {
                http.Response.Headers[OutboxHttpHeaders.AcceptsBatches] = "1";
            }

            if (HttpBatchFormat.IsBatch(http.Request.ContentType))
            {
                Interlocked.Increment(ref _batches);
            }
            else
            {
                Singles.Add(http.Request.Headers[OutboxHeaders.MessageId].ToString());
            }

            return Task.CompletedTask;
        }
    }

    private sealed class Refusals
    {
        public int Remaining;
    }

    /// <summary>Answers 503, before the inbox sees the request, while <see cref="Refusals.Remaining"/> is above 0.</summary>
    private sealed class RefuseFirst(Refusals refusals) : Microsoft.AspNetCore.Hosting.IStartupFilter
    {
        public Action<Microsoft.AspNetCore.Builder.IApplicationBuilder> Configure(Action<Microsoft.AspNetCore.Builder.IApplicationBuilder> inner) => app =>
        {
            app.Use(following => async http =>
            {
                if (Interlocked.Decrement(ref refusals.Remaining) >= 0)
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
