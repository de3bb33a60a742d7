using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.AspNetCore.Http;
using Microsoft.EntityFrameworkCore;
using Outbox.EntityFrameworkCore;
using Outbox.Http.Tests.Infrastructure;
using Outbox.TestInfrastructure;

namespace Outbox.Http.Tests.Transport;

/// <summary>
/// The sending side against real Kestrel endpoints on 127.0.0.1: the consumer's HTTP inbox (SQLite) or a stub that
/// answers a chosen status.
/// </summary>
public sealed class HttpTransportEndToEndTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Send_ToHttpInbox_EachMessageHandledOnceInOrderWithItsHeaders()
    {
        using var senderDb = new TempDatabase();
        using var receiverDb = new TempDatabase();
        var (receiver, address) = await Apps.StartReceiverAsync(receiverDb);
        await using var _ = receiver;
        using var sender = await Apps.StartSenderAsync(senderDb, new Uri(address, $"/inbox/{Apps.Consumer}"));

        // A key outside ASCII travels percent-encoded and arrives as it was.
        const string key = "клиент-7";
        var ids = new List<Guid>();
        for (var i = 1; i <= 3; i++)
        {
            ids.Add(await Apps.PublishAsync(sender, $"hello {i}", key));
        }

        await sender.Services.WaitForOutboxDeliveryAsync(Wait, TestContext.Current.CancellationToken);

        var rows = await Apps.QueryAsync<ReceiverDb, List<ReceivedGreeting>>(receiver.Services, db => db.Greetings.OrderBy(g => g.Id).ToListAsync());
        Assert.Equal(ids, rows.Select(r => r.MessageId));
        Assert.Equal(["hello 1", "hello 2", "hello 3"], rows.Select(r => r.Text));
        Assert.All(rows, r => Assert.Equal(key, r.PartitionKey));
        Assert.Equal([1L, 2L, 3L], rows.Select(r => r.SequenceNumber ?? 0));
        Assert.Equal(3, receiver.Services.GetRequiredService<GreetingCounter>().Calls);
        var context = receiver.Services.GetRequiredService<GreetingCounter>().Last!;
        Assert.Equal(typeof(Greeting).FullName, context.MessageType);
        Assert.Equal("application/json", context.ContentType?.Split(';')[0]);
        Assert.False(context.Redelivered);
        Assert.Equal(0, await Apps.QueryAsync<SenderDb, int>(sender.Services, db => db.Set<OutboxRecord>().CountAsync()));
    }

    [Fact]
    public async Task Send_SignedToAUrlWithAQuery_IsAccepted()
    {
        // The path is signed as sent, the query is not; the receiver reads the path off the wire.
        using var senderDb = new TempDatabase();
        using var receiverDb = new TempDatabase();
        var (receiver, address) = await Apps.StartReceiverAsync(receiverDb);
        await using var _ = receiver;
        using var sender = await Apps.StartSenderAsync(senderDb, new Uri(address, $"/inbox/{Apps.Consumer}?tenant=shop%20one&x=%C3%BC"));

        var id = await Apps.PublishAsync(sender, "hello");
        await sender.Services.WaitForOutboxDeliveryAsync(Wait, TestContext.Current.CancellationToken);

        var row = Assert.Single(await Apps.QueryAsync<ReceiverDb, List<ReceivedGreeting>>(receiver.Services, db => db.Greetings.ToListAsync()));
        Assert.Equal(id, row.MessageId);
        Assert.Equal(0, await Apps.QueryAsync<SenderDb, int>(sender.Services, db => db.Set<DeadLetterRecord>().CountAsync()));
    }

    [Fact]
    public async Task Send_HandlerAlwaysFails_InboxDeadLettersAndTheOutboxCountsItDelivered()
    {
        using var senderDb = new TempDatabase();
        using var receiverDb = new TempDatabase();
        var (receiver, address) = await Apps.StartReceiverAsync(receiverDb);
        await using var _ = receiver;
        using var sender = await Apps.StartSenderAsync(senderDb, new Uri(address, $"/inbox/{Apps.Consumer}"));

        var id = await Apps.PublishAsync(sender, "fail");
        await sender.Services.WaitForOutboxDeliveryAsync(Wait, TestContext.Current.CancellationToken);

        var dead = await Apps.QueryAsync<ReceiverDb, List<InboxDeadLetterRecord>>(receiver.Services, db => db.Set<InboxDeadLetterRecord>().ToListAsync());
        var letter = Assert.Single(dead);
        Assert.Equal(id.ToString("D"), letter.MessageId);
        Assert.Contains("this greeting always fails", letter.Reason, StringComparison.Ordinal);
        Assert.Equal(2, letter.Attempts);
        Assert.Equal(0, await Apps.QueryAsync<SenderDb, int>(sender.Services, db => db.Set<DeadLetterRecord>().CountAsync()));
    }

    [Fact]
    public async Task Send_ReceiversDeadLettersFull_TheSenderKeepsTheMessageInItsOwnDeadLetters()
    {
        using var senderDb = new TempDatabase();
        using var receiverDb = new TempDatabase();
        var (receiver, address) = await Apps.StartReceiverAsync(
            receiverDb, services: services => services.Configure<InboxConsumerOptions>(Apps.Consumer, o => o.MaxDeadLetters = 1));
        await using var _ = receiver;
        using var sender = await Apps.StartSenderAsync(senderDb, new Uri(address, $"/inbox/{Apps.Consumer}"));

        var first = await Apps.PublishAsync(sender, "fail");
        await sender.Services.WaitForOutboxDeliveryAsync(Wait, TestContext.Current.CancellationToken);
        var second = await Apps.PublishAsync(sender, "fail");
        await sender.Services.WaitForOutboxDeliveryAsync(Wait, TestContext.Current.CancellationToken);

        var there = Assert.Single(await Apps.QueryAsync<ReceiverDb, List<InboxDeadLetterRecord>>(receiver.Services, db => db.Set<InboxDeadLetterRecord>().ToListAsync()));
        Assert.Equal(first.ToString("D"), there.MessageId);
        var here = Assert.Single(await Apps.QueryAsync<SenderDb, List<DeadLetterRecord>>(sender.Services, db => db.Set<DeadLetterRecord>().ToListAsync()));
        Assert.Equal(second, here.MessageId);
        Assert.Contains("answered 422", here.Reason, StringComparison.Ordinal);
        Assert.Contains("MaxDeadLetters", here.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(400)]
    [InlineData(404)]
    [InlineData(422)]
    public async Task Send_ReceiverAnswersClientError_OutboxDeadLettersAtOnceWithTheStatus(int status)
    {
        var calls = 0;
        var (stub, address) = await Apps.StartStubAsync(async http =>
        {
            Interlocked.Increment(ref calls);
            http.Response.StatusCode = status;
            await http.Response.WriteAsync("the order number is missing");
        });
        await using var _ = stub;
        using var senderDb = new TempDatabase();
        using var sender = await Apps.StartSenderAsync(senderDb, new Uri(address, "/hook"));

        await Apps.PublishAsync(sender, "hello");
        await sender.Services.WaitForOutboxDeliveryAsync(Wait, TestContext.Current.CancellationToken);

        var letter = Assert.Single(await Apps.QueryAsync<SenderDb, List<DeadLetterRecord>>(sender.Services, db => db.Set<DeadLetterRecord>().ToListAsync()));
        Assert.Contains($"answered {status}", letter.Reason, StringComparison.Ordinal);
        Assert.Contains("the order number is missing", letter.Reason, StringComparison.Ordinal);
        Assert.Equal(1, letter.Attempts);
        Assert.Equal(1, Volatile.Read(ref calls));
    }

    [Theory]
    [InlineData(500)]
    [InlineData(503)]
    [InlineData(408)]
    [InlineData(429)]
    [InlineData(401)]
    [InlineData(403)]
    public async Task Send_ReceiverFailsTransiently_MessageIsRetriedUntilAccepted(int status)
    {
        var calls = 0;
        var (stub, address) = await Apps.StartStubAsync(http =>
        {
            // The first three answers fail (more than the pipeline's two quick retries), then 200.
            http.Response.StatusCode = Interlocked.Increment(ref calls) <= 3 ? status : StatusCodes.Status200OK;
            return Task.CompletedTask;
        });
        await using var _ = stub;
        using var senderDb = new TempDatabase();
        using var sender = await Apps.StartSenderAsync(senderDb, new Uri(address, "/hook"));

        await Apps.PublishAsync(sender, "hello");
        await sender.Services.WaitForOutboxDeliveryAsync(Wait, TestContext.Current.CancellationToken);

        Assert.Equal(4, Volatile.Read(ref calls));
        Assert.Equal(0, await Apps.QueryAsync<SenderDb, int>(sender.Services, db => db.Set<DeadLetterRecord>().CountAsync()));
        Assert.Equal(0, await Apps.QueryAsync<SenderDb, int>(sender.Services, db => db.Set<OutboxRecord>().CountAsync()));
    }

    [Fact]
    public async Task Send_ReceiverDoesNotAcceptTheSendersKey_RetriedNeverDeadLetteredAndNothingWrittenThere()
    {
        // A rotation gone wrong: the receiver holds another secret under the sender's key id.
        using var senderDb = new TempDatabase();
        using var receiverDb = new TempDatabase();
        var (receiver, address) = await Apps.StartReceiverAsync(receiverDb, o => o.SigningKeys[Apps.KeyId] = Apps.OtherSecret);
        await using var _ = receiver;
        using var sender = await Apps.StartSenderAsync(senderDb, new Uri(address, $"/inbox/{Apps.Consumer}"));

        await Apps.PublishAsync(sender, "hello");

        // Wait for progress (attempts), not for time: at least three attempts, each refused with 401.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        OutboxRecord? row;
        while ((row = await Apps.QueryAsync<SenderDb, OutboxRecord?>(sender.Services, db => db.Set<OutboxRecord>().AsNoTracking().SingleOrDefaultAsync())) is { Attempts: < 3 }
            && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }

        Assert.NotNull(row);
        Assert.True(row.Attempts >= 3, $"only {row.Attempts} attempt(s) in 90 s");
        Assert.Contains("401", row.LastError, StringComparison.Ordinal);
        Assert.Equal(0, await Apps.QueryAsync<SenderDb, int>(sender.Services, db => db.Set<DeadLetterRecord>().CountAsync()));
        Assert.All(await Apps.RowCountsAsync(receiverDb), table => Assert.Equal(0, table.Value));
        Assert.Equal(0, receiver.Services.GetRequiredService<GreetingCounter>().Calls);
    }

    [Fact]
    public async Task Send_ReceiverUnreachable_MessageStaysInTheOutboxWithTheError()
    {
        // A port nobody listens on: connection refused is a transient failure, never a dead letter.
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        using var senderDb = new TempDatabase();
        using var sender = await Apps.StartSenderAsync(senderDb, new Uri($"http://127.0.0.1:{port}/inbox/greetings"), o => o.RetryBaseDelay = o.RetryMaxDelay = TimeSpan.FromSeconds(30));

        await Apps.PublishAsync(sender, "hello");
        OutboxRecord? row = null;
        for (var i = 0; i < 100 && row?.LastError is null; i++)
        {
            await Task.Delay(100, TestContext.Current.CancellationToken);
            row = await Apps.QueryAsync<SenderDb, OutboxRecord?>(sender.Services, db => db.Set<OutboxRecord>().AsNoTracking().SingleOrDefaultAsync());
        }

        Assert.NotNull(row?.LastError);
        Assert.Equal(0, await Apps.QueryAsync<SenderDb, int>(sender.Services, db => db.Set<DeadLetterRecord>().CountAsync()));
    }

    [Fact]
    public async Task Send_OneReceiverRefusesConnections_TheOtherKeepsItsCircuitAndTheDownOnesAreDeliveredWhenItReturns()
    {
        var suffix = Guid.NewGuid().ToString("N")[..8];
        var up = $"up-{suffix}";
        var down = $"down-{suffix}";
        var upCalls = 0;
        var (upStub, upAddress) = await Apps.StartStubAsync(_ =>
        {
            Interlocked.Increment(ref upCalls);
            return Task.CompletedTask;
        });
        await using var _ = upStub;

        // A port nobody listens on yet: connection refused, an endpoint failure.
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var downPort = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();

        using var metrics = new DestinationMetrics();
        using var senderDb = new TempDatabase();
        using var sender = await Apps.StartSenderAsync(
            senderDb,
            new Uri(upAddress, "/hook"),
            o => o.MaxAttempts = 10,
            http: o =>
            {
                o.MaxBatchMessages = 1; // one POST per message: the stubs count messages
                o.Destinations[up] = new Uri(upAddress, "/hook");
                o.Destinations[down] = new Uri($"http://127.0.0.1:{downPort}/hook");
            });

        // First the down receiver's messages, until its circuit is open; then the up receiver's, while it stays open.
        await PublishToAsync(sender, down, 30);
        await WaitUntilAsync(() => metrics.CircuitRefused(down) > 0, "the down receiver's circuit to open");
        await PublishToAsync(sender, up, 100);
        await WaitUntilAsync(() => Volatile.Read(ref upCalls) >= 100 && metrics.Latency(up).P99 > 0, "the up receiver's 100 messages");
        Assert.Equal(0, metrics.CircuitRefused(up));
        Assert.Equal(0, metrics.Failed(up));
        Assert.Equal(100, Volatile.Read(ref upCalls));
        var (p50, p99) = metrics.Latency(up);
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"up: latency p50 {p50 * 1000:0} ms, p99 {p99 * 1000:0} ms while down's circuit refused {metrics.CircuitRefused(down)} send(s) after {metrics.Failed(down)} failure(s)");

        // The down receiver comes back on its port: its messages go through, none was dead-lettered for the outage.
        var downCalls = 0;
        var back = WebApplication.CreateSlimBuilder();
        back.Logging.SetMinimumLevel(LogLevel.Warning);
        back.WebHost.UseKestrel().UseUrls($"http://127.0.0.1:{downPort}");
        await using var backApp = back.Build();
        backApp.MapPost("/{**path}", _ =>
        {
            Interlocked.Increment(ref downCalls);
            return Task.CompletedTask;
        });
        await backApp.StartAsync(TestContext.Current.CancellationToken);
        // (Not WaitForOutboxDeliveryAsync: it does not wait for rows rescheduled without an attempt, as these are.)
        var remaining = -1;
        var deadline = DateTime.UtcNow + Wait;
        while ((remaining = await Apps.QueryAsync<SenderDb, int>(sender.Services, db => db.Set<OutboxRecord>().CountAsync())) > 0)
        {
            Assert.True(DateTime.UtcNow < deadline, $"{remaining} message(s) still in the outbox after {Wait.TotalSeconds:0} s.");
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }

        Assert.True(Volatile.Read(ref downCalls) >= 30);
        Assert.Equal(0, await Apps.QueryAsync<SenderDb, int>(sender.Services, db => db.Set<DeadLetterRecord>().CountAsync()));
    }

    [Fact]
    public async Task Send_PayloadOverTheLimit_DeadLetteredWithoutBeingPosted()
    {
        var calls = 0;
        var (stub, address) = await Apps.StartStubAsync(http =>
        {
            Interlocked.Increment(ref calls);
            return Task.CompletedTask;
        });
        await using var _ = stub;
        using var senderDb = new TempDatabase();
        using var sender = await Apps.StartSenderAsync(senderDb, new Uri(address, "/hook"), http: o => o.MaxMessageSize = 16);

        await Apps.PublishAsync(sender, "a greeting longer than sixteen bytes");
        await sender.Services.WaitForOutboxDeliveryAsync(Wait, TestContext.Current.CancellationToken);

        var letter = Assert.Single(await Apps.QueryAsync<SenderDb, List<DeadLetterRecord>>(sender.Services, db => db.Set<DeadLetterRecord>().ToListAsync()));
        Assert.Contains("MaxMessageSize", letter.Reason, StringComparison.Ordinal);
        Assert.Equal(0, Volatile.Read(ref calls));
    }

    private static async Task PublishToAsync(IHost sender, string destination, int count)
    {
        await using var scope = sender.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<SenderDb>();
        for (var i = 0; i < count; i++)
        {
            db.Publish(new Greeting($"to {destination} {i}"), new PublishOptions { Destination = destination });
        }

        await db.SaveChangesAsync(TestContext.Current.CancellationToken);
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + Wait;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"Timed out after {Wait.TotalSeconds:0} s waiting for {what}.");
            await Task.Delay(20, TestContext.Current.CancellationToken);
        }
    }
}
