using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Outbox.EntityFrameworkCore.Tests.Infrastructure;
using Outbox.EntityFrameworkCore.Tests.Inbox;

namespace Outbox.EntityFrameworkCore.Tests.Contract;

/// <summary>
/// Consumer-side order enforcement (<c>AddHandler(enforceOrder: true)</c>): a keyed message that arrives ahead of its
/// predecessor is handed back, nothing written, until the predecessor has been processed or the gap timeout passed.
/// Each step checks the ledger, so the order of the effects is the order of the steps.
/// </summary>
public abstract class InboxOrderingContractTests<TFixture>(TFixture fixture) : IClassFixture<TFixture>, IAsyncLifetime
    where TFixture : class, IDatabaseFixture
{
    private const string Consumer = "ordered";
    private TestDatabase? _database;
    private ServiceProvider? _services;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private IInboxReceiver Receiver => _services!.GetRequiredService<IInboxReceiver>();

    public async ValueTask InitializeAsync()
    {
        _database = await fixture.CreateDatabaseAsync();
        await InboxTestDbContext.CreateTablesAsync(_database);
        var services = new ServiceCollection();
        services.AddLogging(b => b.SetMinimumLevel(LogLevel.Warning));
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().Build());
        services.AddSingleton<HandlerBehaviour>();
        services.AddDbContext<InboxTestDbContext>(options => _database.Configure(options));
        services.AddOutboxConsumer<InboxTestDbContext>(Consumer, c => c
            .AddHandler<AccountCredited, CreditHandler>(enforceOrder: true)
            .Configure(o =>
            {
                o.OrderRetryDelay = TimeSpan.Zero;
                o.OrderGapTimeout = TimeSpan.FromMilliseconds(300);
                o.MaxBatchSize = 10;
            }));
        _services = services.BuildServiceProvider();
    }

    public async ValueTask DisposeAsync()
    {
        if (_services is not null)
        {
            await _services.DisposeAsync();
        }

        if (_database is not null)
        {
            await _database.DisposeAsync();
        }

        GC.SuppressFinalize(this);
    }

    [Fact]
    public async Task Receive_MessageAheadOfItsPredecessor_IsHandedBackUntilThePredecessorIsProcessed()
    {
        var first = Keyed("acc", 1, amount: 1);
        var second = Keyed("acc", 2, amount: 2);
        var third = Keyed("acc", 3, amount: 3);

        Assert.Equal(ReceiveDisposition.Acknowledge, await Receiver.ReceiveAsync(Consumer, first, Ct));
        Assert.Equal(ReceiveDisposition.Requeue, await Receiver.ReceiveAsync(Consumer, third, Ct)); // 2 is missing
        Assert.Equal([1L], await LedgerAsync());
        Assert.False(await InInboxAsync(third)); // nothing of the early message was kept, so it can come back

        Assert.Equal(ReceiveDisposition.Acknowledge, await Receiver.ReceiveAsync(Consumer, second, Ct));
        Assert.Equal([1L, 2L], await LedgerAsync());
        Assert.Equal(ReceiveDisposition.Acknowledge, await Receiver.ReceiveAsync(Consumer, third, Ct)); // redelivered
        Assert.Equal([1L, 2L, 3L], await LedgerAsync());
    }

    [Fact]
    public async Task Receive_GapThatNeverFills_IsAcceptedAfterTheTimeoutAndOtherKeysAreNotHeld()
    {
        Assert.Equal(ReceiveDisposition.Acknowledge, await Receiver.ReceiveAsync(Consumer, Keyed("a", 1, amount: 1), Ct));
        var afterGap = Keyed("a", 3, amount: 3); // 2 was dead-lettered upstream and will never come
        Assert.Equal(ReceiveDisposition.Requeue, await Receiver.ReceiveAsync(Consumer, afterGap, Ct));
        Assert.Equal(ReceiveDisposition.Acknowledge, await Receiver.ReceiveAsync(Consumer, Keyed("b", 1, amount: 10), Ct));
        Assert.Equal([1L, 10L], await LedgerAsync());

        await Task.Delay(350, Ct);
        Assert.Equal(ReceiveDisposition.Acknowledge, await Receiver.ReceiveAsync(Consumer, afterGap, Ct));
        Assert.Equal([1L, 3L, 10L], await LedgerAsync());

        // The late predecessor, if it ever comes, is processed (a reorder, counted) rather than lost.
        Assert.Equal(ReceiveDisposition.Acknowledge, await Receiver.ReceiveAsync(Consumer, Keyed("a", 2, amount: 2), Ct));
        Assert.Equal([1L, 2L, 3L, 10L], await LedgerAsync());
    }

    [Fact]
    public async Task ProcessBatch_MessageAheadOfItsPredecessor_KeepsNothingThenTheCompleteRunCommitsInOrder()
    {
        var processor = _services!.GetRequiredKeyedService<IInboxProcessor>(Consumer);

        // Within a batch each message sees the sequence its predecessor raised in the same transaction.
        Assert.Null(await processor.ProcessBatchAsync(Consumer, [Keyed("k", 1, amount: 1), Keyed("k", 2, amount: 2), Keyed("k", 4, amount: 4)], Ct));
        Assert.Empty(await LedgerAsync()); // all or nothing: 1 and 2 were rolled back with the early 4

        var outcomes = await processor.ProcessBatchAsync(Consumer, [Keyed("k", 1, amount: 1), Keyed("k", 2, amount: 2), Keyed("k", 3, amount: 3)], Ct);
        Assert.NotNull(outcomes);
        Assert.All(outcomes, o => Assert.Equal(InboxOutcomeKind.Processed, o.Kind));
        Assert.Equal([1L, 2L, 3L], await LedgerAsync());
    }

    [Fact]
    public async Task ReceiveBatch_MessageAheadOfItsPredecessor_EarlierOnesAreAcknowledgedAndItAndTheRestAreHandedBack()
    {
        var dispositions = await Receiver.ReceiveBatchAsync(Consumer, [Keyed("r", 1, amount: 1), Keyed("r", 3, amount: 3), Keyed("s", 1, amount: 10)], Ct);

        // The batch fell back to one by one: 1 is processed, 3 is early and handed back, and the message after it is
        // not processed so the transport can give all of them back in order.
        Assert.Equal([ReceiveDisposition.Acknowledge, ReceiveDisposition.Requeue, ReceiveDisposition.Requeue], dispositions);
        Assert.Equal([1L], await LedgerAsync());
    }

    private async Task<List<long>> LedgerAsync()
    {
        await using var context = InboxTestDbContext.Create(_database!);
        return (await context.Ledger.Select(e => e.Amount).ToListAsync(Ct)).Order().ToList();
    }

    private async Task<bool> InInboxAsync(IncomingMessage message)
    {
        await using var context = InboxTestDbContext.Create(_database!);
        var id = Guid.Parse(message.MessageId!);
        return await context.Set<InboxRecord>().AnyAsync(r => r.MessageId == id, Ct);
    }

    private static IncomingMessage Keyed(string key, long sequence, long amount) => new()
    {
        MessageId = Guid.CreateVersion7().ToString(),
        MessageType = typeof(AccountCredited).FullName,
        ContentType = "application/json",
        PartitionKey = key,
        SequenceNumber = sequence,
        Payload = SystemTextJsonMessageSerializer.Default.Serialize(new AccountCredited(key, amount), typeof(AccountCredited)),
    };
}
