using System.Data.Common;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Outbox.EntityFrameworkCore;
using Outbox.RabbitMQ.Tests.Infrastructure;
using RabbitMQ.Client;

namespace Outbox.RabbitMQ.Tests.Consuming;

/// <summary>The consumer against the real broker and a real PostgreSQL inbox: redeliveries, crashes, poison.</summary>
[Collection(BrokerCollection.Name)]
public sealed class RabbitMqInboxConsumerTests(BrokerFixture fixture) : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private ShopEnvironment? _environment;

    private ShopEnvironment Environment => _environment ?? throw new InvalidOperationException("Not initialized.");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _environment = await ShopEnvironment.CreateAsync(fixture);

    public async ValueTask DisposeAsync()
    {
        if (_environment is not null)
        {
            await _environment.DisposeAsync();
        }
    }

    [Fact]
    public async Task SameMessageDeliveredTwice_HandlerEffectHappensOnce()
    {
        var host = await Environment.StartHostAsync(dispatcher: false);
        var transport = host.Services.GetRequiredService<IMessageTransport>();
        var message = Envelope(new OrderPlaced(Guid.NewGuid(), "D-1"));

        // The dispatcher sent it, lost the confirm, and sent it again: the broker holds two copies.
        await transport.SendAsync(message, Ct);
        await transport.SendAsync(message, Ct);

        await ShopEnvironment.WaitUntilAsync(() => Task.FromResult(Environment.Recorder.Outcomes.Count >= 2), Timeout, "both copies to be consumed");
        Assert.Equal(1, Environment.Recorder.Count(InboxOutcomeKind.Processed));
        Assert.True(Environment.Recorder.Count(InboxOutcomeKind.Duplicate) >= 1); // more if the broker was restarted meanwhile
        Assert.Equal(1, Environment.Probe.Invocations);
        Assert.Equal(1, await Environment.CountPaymentsAsync());
        await AssertQueueEmptyAsync();
    }

    [Fact]
    public async Task CrashAfterTheHandlerCommittedButBeforeTheAck_RedeliveryIsRecognisedAndSkipped()
    {
        IHost? host = null;
        var crash = new CloseChannelAfterCommit(() => host!.Services.GetRequiredKeyedService<RabbitMqInboxConsumer>(ShopEnvironment.Consumer).CurrentChannel);
        host = await Environment.StartHostAsync(configurePayments: o => o.AddInterceptors(crash));
        var id = Assert.Single(await Environment.PlaceOrdersAsync(1));

        await ShopEnvironment.WaitUntilAsync(() => Task.FromResult(Environment.Recorder.Outcomes.Count >= 2), Timeout, "the redelivery after the lost ack");
        Assert.True(crash.Fired);
        var outcomes = Environment.Recorder.Outcomes.ToList();
        Assert.Equal((id.ToString(), InboxOutcomeKind.Processed, false), outcomes[0]);
        Assert.All(outcomes.Skip(1), o => Assert.Equal((id.ToString(), InboxOutcomeKind.Duplicate, true), o));
        Assert.Equal(1, Environment.Probe.Invocations);
        Assert.Equal(1, await Environment.CountPaymentsAsync());

        // The consumer came back on a new channel and keeps going.
        await Environment.PlaceOrdersAsync(5, prefix: "after");
        await ShopEnvironment.WaitUntilAsync(async () => await Environment.CountPaymentsAsync() == 6, Timeout, "messages after the crash");
        await AssertQueueEmptyAsync();
    }

    [Fact]
    public async Task PoisonMessages_AreDeadLetteredWithTheirReasonWhileOtherMessagesFlow()
    {
        await Environment.StartHostAsync();
        await using (var connection = await Environment.ConnectAsync())
        await using (var channel = await connection.CreateChannelAsync(cancellationToken: Ct))
        {
            var type = typeof(OrderPlaced).FullName!;
            await PublishRawAsync(channel, Guid.NewGuid().ToString(), type, "{not json"u8.ToArray());
            await PublishRawAsync(channel, Guid.NewGuid().ToString(), "Billing.InvoiceIssued", "{}"u8.ToArray());
            await PublishRawAsync(channel, messageId: null, type, "{}"u8.ToArray());
        }

        await Environment.PlaceOrdersAsync(20);

        await ShopEnvironment.WaitUntilAsync(async () => await Environment.CountPaymentsAsync() == 20 && await CountDeadLettersAsync() == 3, Timeout, "20 payments and 3 dead letters");
        await using var check = Environment.CreatePaymentsContext();
        var reasons = await check.Set<InboxDeadLetterRecord>().OrderBy(d => d.Id).Select(d => d.Reason).ToListAsync(Ct);
        Assert.Contains(reasons, r => r.Contains("could not be deserialized", StringComparison.Ordinal));
        Assert.Contains(reasons, r => r.Contains("no handler for message type 'Billing.InvoiceIssued'", StringComparison.Ordinal));
        Assert.Contains(reasons, r => r.Contains("no message id", StringComparison.Ordinal));
        var notJson = await check.Set<InboxDeadLetterRecord>().SingleAsync(d => d.Reason.Contains("deserialized"), Ct);
        Assert.Equal("{not json", Encoding.UTF8.GetString(notJson.Payload));
        Assert.Equal(ShopEnvironment.Consumer, notJson.Consumer);
        Assert.Equal(20, Environment.Probe.Invocations); // poison never reached the handler, nor looped
        await AssertQueueEmptyAsync();
    }

    [Fact]
    public async Task PoisonMessagesPastTheDeadLetterCap_AreRejectedOnceNotRequeuedAndOthersFlow()
    {
        // One lane: the cap is counted, not locked, so dead letters in concurrent lanes may overshoot it by the
        // consumer's concurrency (as MaxDeadLetters documents); exactly one kept needs them one after another.
        await Environment.StartHostAsync(configureConsumer: o => o.ConcurrentMessages = 1, configureInbox: o => o.MaxDeadLetters = 1);
        var poison = new[] { Guid.NewGuid().ToString(), Guid.NewGuid().ToString(), Guid.NewGuid().ToString() };
        await using (var connection = await Environment.ConnectAsync())
        await using (var channel = await connection.CreateChannelAsync(cancellationToken: Ct))
        {
            foreach (var id in poison)
            {
                await PublishRawAsync(channel, id, typeof(OrderPlaced).FullName!, "{not json"u8.ToArray());
            }
        }

        // Published after the poison, so processed after it: by then a requeued poison message would have come back.
        await Environment.PlaceOrdersAsync(10);

        await ShopEnvironment.WaitUntilAsync(async () => await Environment.CountPaymentsAsync() == 10, Timeout, "10 payments");
        await AssertQueueEmptyAsync();
        Assert.Equal(1, await CountDeadLettersAsync());
        var refused = Environment.Recorder.Outcomes.Where(o => o.Kind == InboxOutcomeKind.Refused).ToList();
        Assert.Equal(2, refused.Count); // each refused once, never redelivered
        Assert.All(refused, o => Assert.False(o.Redelivered));
        // Whichever poison message came first took the one place.
        await using var check = Environment.CreatePaymentsContext();
        var kept = await check.Set<InboxDeadLetterRecord>().Select(d => d.MessageId).SingleAsync(Ct);
        Assert.Equal(poison.Order(), refused.Select(o => o.MessageId!).Append(kept!).Order());
        Assert.Equal(10, Environment.Probe.Invocations);
    }

    [Fact]
    public async Task HandlerFailingEveryAttempt_IsDeadLetteredAndAcknowledged_WithoutBlockingTheQueue()
    {
        await Environment.StartHostAsync(
            configureInbox: o =>
            {
                o.MaxAttempts = 3;
                o.ShouldRetry = _ => true;
            },
            configurePayments: o => o.AddInterceptors(new FailSaveChangesOf("bad-order")));
        await Environment.PlaceOrdersAsync(1, prefix: "bad-order");
        await Environment.PlaceOrdersAsync(10);

        await ShopEnvironment.WaitUntilAsync(async () => await Environment.CountPaymentsAsync() == 10 && await CountDeadLettersAsync() == 1, Timeout, "10 payments and 1 dead letter");
        await using var check = Environment.CreatePaymentsContext();
        var dead = await check.Set<InboxDeadLetterRecord>().SingleAsync(Ct);
        Assert.Equal(3, dead.Attempts);
        Assert.Contains("Failed 3 attempt(s)", dead.Reason, StringComparison.Ordinal);
        Assert.Contains("refused on purpose", dead.Reason, StringComparison.Ordinal);
        await AssertQueueEmptyAsync();
    }

    // ---- helpers ---------------------------------------------------------------------------------------------

    private async Task PublishRawAsync(IChannel channel, string? messageId, string messageType, byte[] body)
    {
        var headers = new Dictionary<string, object?> { [OutboxHeaders.MessageType] = messageType };
        if (messageId is not null)
        {
            headers[OutboxHeaders.MessageId] = messageId;
        }

        var properties = new BasicProperties { Persistent = true, ContentType = "application/json", Headers = headers };
        await channel.BasicPublishAsync(Environment.Exchange, messageType, mandatory: false, properties, body, Ct);
    }

    private async Task<int> CountDeadLettersAsync()
    {
        await using var context = Environment.CreatePaymentsContext();
        return await context.Set<InboxDeadLetterRecord>().CountAsync(Ct);
    }

    private async Task AssertQueueEmptyAsync()
    {
        await using var connection = await Environment.ConnectAsync();
        await using var channel = await connection.CreateChannelAsync(cancellationToken: Ct);
        await ShopEnvironment.WaitUntilAsync(async () => await channel.MessageCountAsync(Environment.Queue, Ct) == 0, Timeout, "the queue to be empty");
    }

    private OutboxMessage Envelope(OrderPlaced payload) => new()
    {
        Position = 1,
        MessageId = Guid.CreateVersion7(),
        Destination = Environment.Exchange,
        MessageType = typeof(OrderPlaced).FullName!,
        Payload = SystemTextJsonMessageSerializer.Default.Serialize(payload, typeof(OrderPlaced)),
        ContentType = "application/json",
        CreatedAt = DateTimeOffset.UtcNow,
        Attempt = 1,
    };

    /// <summary>
    /// Simulates a consumer crash at the worst moment: once, right after the inbox transaction committed, the consumer's
    /// channel is closed, so the acknowledgement that follows cannot reach the broker.
    /// </summary>
    private sealed class CloseChannelAfterCommit(Func<IChannel?> channel) : DbTransactionInterceptor
    {
        private int _armed = 1;

        public bool Fired => Volatile.Read(ref _armed) == 0;

        public override async Task TransactionCommittedAsync(DbTransaction transaction, TransactionEndEventData eventData, CancellationToken cancellationToken = default)
        {
            if (Interlocked.Exchange(ref _armed, 0) == 1 && channel() is { } target)
            {
                // Not awaited here: closing waits for the consumer callback we are in to return.
                _ = Task.Run(() => target.CloseAsync(), CancellationToken.None);
                while (target.IsOpen)
                {
                    await Task.Delay(5, CancellationToken.None);
                }
            }
        }
    }

    /// <summary>Makes the handler's unit of work fail for orders whose number starts with a prefix.</summary>
    private sealed class FailSaveChangesOf(string prefix) : SaveChangesInterceptor
    {
        public override ValueTask<InterceptionResult<int>> SavingChangesAsync(DbContextEventData eventData, InterceptionResult<int> result, CancellationToken cancellationToken = default) =>
            eventData.Context!.ChangeTracker.Entries<Payment>().Any(e => e.Entity.Number.StartsWith(prefix, StringComparison.Ordinal))
                ? throw new InvalidOperationException("payment refused on purpose")
                : ValueTask.FromResult(result);
    }
}
