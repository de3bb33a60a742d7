using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Outbox.EntityFrameworkCore.Tests.Infrastructure;
using Outbox.EntityFrameworkCore.Tests.Inbox;

namespace Outbox.EntityFrameworkCore.Tests.Contract;

/// <summary>
/// The inbox contract: every provider inherits this class once and must pass all of it against a real database.
/// The processor and receiver are driven directly (no broker): a transport only hands them messages.
/// </summary>
public abstract class InboxContractTests<TFixture>(TFixture fixture) : IClassFixture<TFixture>, IAsyncLifetime
    where TFixture : class, IDatabaseFixture
{
    private const string Consumer = "ledger";
    private readonly CommandLog _commands = new();
    private TestDatabase? _database;
    private ServiceProvider? _services;

    /// <summary>
    /// Whether the consumer's context is registered with <c>AddDbContextPool</c>: every attempt then gets a context
    /// another attempt used before (returned to the pool and reset), and the contract must hold all the same.
    /// </summary>
    protected virtual bool PooledContexts => false;

    protected TestDatabase Database => _database ?? throw new InvalidOperationException("Not initialized.");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private HandlerBehaviour Behaviour => Services.GetRequiredService<HandlerBehaviour>();

    private ServiceProvider Services => _services ?? throw new InvalidOperationException("Not initialized.");

    private IInboxProcessor Processor => Services.GetRequiredKeyedService<IInboxProcessor>(Consumer);

    private IInboxReceiver Receiver => Services.GetRequiredService<IInboxReceiver>();

    public async ValueTask InitializeAsync()
    {
        _database = await fixture.CreateDatabaseAsync();
        await InboxTestDbContext.CreateTablesAsync(_database);
        var services = new ServiceCollection();
        services.AddLogging(b => b.SetMinimumLevel(LogLevel.Warning));
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().Build()); // a host provides it
        services.AddSingleton<HandlerBehaviour>();
        Action<IServiceProvider, DbContextOptionsBuilder> configure = (sp, options) =>
        {
            _database.Configure(options);
            options.UseOutbox(sp);
            options.AddInterceptors(_commands);
        };
        if (PooledContexts)
        {
            services.AddDbContextPool<InboxTestDbContext>(configure);
        }
        else
        {
            services.AddDbContext<InboxTestDbContext>(configure);
        }

        services.AddOutboxConsumer<InboxTestDbContext>(Consumer, c => c
            .AddHandler<AccountCredited, CreditHandler>()
            .Configure(o =>
            {
                o.MaxAttempts = 3;
                o.RetryBaseDelay = TimeSpan.FromMilliseconds(10);
                o.RetryMaxDelay = TimeSpan.FromMilliseconds(40);
                o.RequeueDelay = TimeSpan.Zero;
                o.MaxBatchSize = 16;
            }));
        _services = services.BuildServiceProvider(new ServiceProviderOptions { ValidateScopes = true });
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

    // ---- Effectively once ------------------------------------------------------------------------------------

    [Fact]
    public async Task Process_SameMessageTwice_HandlerEffectHappensOnce()
    {
        var message = Message(new AccountCredited("acc-1", 10)) with
        {
            PartitionKey = "acc-1",
            SequenceNumber = 7,
            TraceParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            Headers = new Dictionary<string, string> { ["tenant"] = "acme" },
        };

        var first = await Processor.ProcessAsync(Consumer, message, Ct);
        var second = await Processor.ProcessAsync(Consumer, message with { Redelivered = true }, Ct);

        Assert.Equal(InboxOutcomeKind.Processed, first.Kind);
        Assert.Equal(InboxOutcomeKind.Duplicate, second.Kind);
        Assert.Equal(1, Behaviour.Invocations);
        await using var check = InboxTestDbContext.Create(Database);
        var entry = Assert.Single(await check.Ledger.ToListAsync(Ct));
        Assert.Equal(Guid.Parse(message.MessageId!), entry.MessageId);
        var row = Assert.Single(await check.Set<InboxRecord>().ToListAsync(Ct));
        Assert.Equal(Consumer, row.Consumer);
        Assert.Equal(entry.MessageId, row.MessageId);
        Assert.NotNull(row.ProcessedAt);

        var context = Behaviour.LastContext!;
        Assert.Equal(Consumer, context.Consumer);
        Assert.Equal(typeof(AccountCredited).FullName, context.MessageType);
        Assert.Equal("acc-1", context.PartitionKey);
        Assert.Equal(7, context.SequenceNumber);
        Assert.Equal("acme", context.Headers["tenant"]);
        Assert.Equal(message.TraceParent, context.TraceParent);
        Assert.Equal(1, context.DeliveryAttempt);
        Assert.False(context.Redelivered);
    }

    [Fact]
    public async Task Process_SameIdForTwoConsumers_EachProcessesItOnce()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().Build());
        services.AddSingleton<HandlerBehaviour>();
        services.AddDbContext<InboxTestDbContext>(options => Database.Configure(options));
        services.AddOutboxConsumer<InboxTestDbContext>("ledger-a", c => c.AddHandler<AccountCredited, CreditHandler>());
        services.AddOutboxConsumer<InboxTestDbContext>("ledger-b", c => c.AddHandler<AccountCredited, CreditHandler>());
        await using var provider = services.BuildServiceProvider();
        var message = Message(new AccountCredited("acc-2", 1));

        foreach (var name in new[] { "ledger-a", "ledger-b", "ledger-a" })
        {
            await provider.GetRequiredKeyedService<IInboxProcessor>(name).ProcessAsync(name, message, Ct);
        }

        Assert.Equal(2, provider.GetRequiredService<HandlerBehaviour>().Invocations);
        await using var check = InboxTestDbContext.Create(Database);
        Assert.Equal(2, await check.Set<InboxRecord>().CountAsync(Ct));
    }

    [Fact]
    public async Task Process_ConcurrentDeliveriesOfOneMessage_HandlerCommitsOnce()
    {
        // Two consumer instances get the same message at the same moment (a redelivery racing the original).
        Behaviour.Delay = TimeSpan.FromMilliseconds(300);
        var message = Message(new AccountCredited("acc-3", 5));
        var outcomes = await Task.WhenAll(
            Task.Run(() => Receiver.ReceiveAsync(Consumer, message, Ct), Ct),
            Task.Run(() => Receiver.ReceiveAsync(Consumer, message, Ct), Ct));

        Assert.All(outcomes, o => Assert.Equal(ReceiveDisposition.Acknowledge, o));
        await using var check = InboxTestDbContext.Create(Database);
        Assert.Equal(1, await check.Ledger.CountAsync(Ct));
        Assert.Equal(1, await check.Set<InboxRecord>().CountAsync(Ct));
    }

    // ---- Failures --------------------------------------------------------------------------------------------

    [Fact]
    public async Task Process_HandlerThrows_ItsWritesAreRolledBackThenItSucceedsOnRetry()
    {
        Behaviour.FailuresLeft = 1;
        var message = Message(new AccountCredited("acc-4", 3));

        var failed = await Processor.ProcessAsync(Consumer, message, Ct);
        Assert.Equal(InboxOutcomeKind.Failed, failed.Kind);
        Assert.True(failed.Retryable);
        Assert.Contains("on purpose", failed.Exception!.Message, StringComparison.Ordinal);
        await using (var check = InboxTestDbContext.Create(Database))
        {
            Assert.Equal(0, await check.Ledger.CountAsync(Ct)); // the handler had saved it: rolled back
            Assert.Equal(0, await check.Set<InboxRecord>().CountAsync(Ct)); // so the retry is not a "duplicate"
        }

        var retried = await Processor.ProcessAsync(Consumer, message with { DeliveryAttempt = 2 }, Ct);
        Assert.Equal(InboxOutcomeKind.Processed, retried.Kind);
        Assert.Equal(2, Behaviour.Invocations);
        Assert.Equal(2, Behaviour.LastContext!.DeliveryAttempt);
        await using var after = InboxTestDbContext.Create(Database);
        Assert.Equal(1, await after.Ledger.CountAsync(Ct));
    }

    [Fact]
    public async Task Receive_HandlerFailsOnce_IsRetriedInProcessAndAcknowledged()
    {
        Behaviour.FailuresLeft = 1;
        var disposition = await Receiver.ReceiveAsync(Consumer, Message(new AccountCredited("acc-5", 1)), Ct);

        Assert.Equal(ReceiveDisposition.Acknowledge, disposition);
        Assert.Equal(2, Behaviour.Invocations);
        await using var check = InboxTestDbContext.Create(Database);
        Assert.Equal(1, await check.Ledger.CountAsync(Ct));
        Assert.Empty(await check.Set<InboxDeadLetterRecord>().ToListAsync(Ct));
    }

    [Fact]
    public async Task Receive_HandlerAlwaysFails_IsDeadLetteredWithReasonAfterMaxAttemptsAndNotRetriedAgain()
    {
        Behaviour.AlwaysFail = true;
        var message = Message(new AccountCredited("acc-6", 1)) with { PartitionKey = "acc-6" };

        var disposition = await Receiver.ReceiveAsync(Consumer, message, Ct);

        Assert.Equal(ReceiveDisposition.Acknowledge, disposition);
        Assert.Equal(3, Behaviour.Invocations);
        await using (var check = InboxTestDbContext.Create(Database))
        {
            var dead = Assert.Single(await check.Set<InboxDeadLetterRecord>().ToListAsync(Ct));
            Assert.Equal(Consumer, dead.Consumer);
            Assert.Equal(message.MessageId, dead.MessageId);
            Assert.Equal(typeof(AccountCredited).FullName, dead.MessageType);
            Assert.Equal("acc-6", dead.PartitionKey);
            Assert.Equal(3, dead.Attempts);
            Assert.Contains("Failed 3 attempt(s)", dead.Reason, StringComparison.Ordinal);
            Assert.Contains("the handler failed on purpose", dead.Reason, StringComparison.Ordinal);
            Assert.Equal(message.Payload.ToArray(), dead.Payload);
            Assert.Equal(0, await check.Ledger.CountAsync(Ct));
            var marker = Assert.Single(await check.Set<InboxRecord>().ToListAsync(Ct));
            Assert.Null(marker.ProcessedAt);
        }

        // A redelivery (the ack was lost) is recognised: no new attempts, no second dead letter.
        Assert.Equal(ReceiveDisposition.Acknowledge, await Receiver.ReceiveAsync(Consumer, message with { Redelivered = true }, Ct));
        Assert.Equal(3, Behaviour.Invocations);
        await using var after = InboxTestDbContext.Create(Database);
        Assert.Equal(1, await after.Set<InboxDeadLetterRecord>().CountAsync(Ct));
    }

    [Theory]
    [MemberData(nameof(InboxPoisonCases.All), MemberType = typeof(InboxPoisonCases))]
    public async Task Receive_PoisonMessage_IsDeadLetteredAtOnceWithReasonWhileOthersFlow(string poison, string expectedReason)
    {
        var good = Message(new AccountCredited("acc-7", 1));
        var message = poison switch
        {
            "malformed-json" => good with { MessageId = Guid.NewGuid().ToString(), Payload = Encoding.UTF8.GetBytes("{not json") },
            "unknown-type" => good with { MessageId = Guid.NewGuid().ToString(), MessageType = "Some.Other.Type" },
            "missing-id" => good with { MessageId = null },
            "malformed-id" => good with { MessageId = "order-42" },
            "missing-type" => good with { MessageId = Guid.NewGuid().ToString(), MessageType = null },
            "wrong-content-type" => good with { MessageId = Guid.NewGuid().ToString(), ContentType = "application/xml" },
            _ => throw new ArgumentOutOfRangeException(nameof(poison)),
        };

        Assert.Equal(ReceiveDisposition.Acknowledge, await Receiver.ReceiveAsync(Consumer, message, Ct));
        Assert.Equal(ReceiveDisposition.Acknowledge, await Receiver.ReceiveAsync(Consumer, good, Ct));

        Assert.Equal(1, Behaviour.Invocations); // the good one only; the poison one was never retried
        await using var check = InboxTestDbContext.Create(Database);
        var dead = Assert.Single(await check.Set<InboxDeadLetterRecord>().ToListAsync(Ct));
        Assert.Contains(expectedReason, dead.Reason, StringComparison.Ordinal);
        Assert.Equal(0, dead.Attempts);
        Assert.Equal(message.Payload.ToArray(), dead.Payload);
        Assert.Equal(message.MessageId, dead.MessageId);
        Assert.Equal(1, await check.Ledger.CountAsync(Ct));
    }

    [Fact]
    public async Task Process_PoisonMessageRedelivered_IsDeadLetteredOnlyOnce()
    {
        var poison = Message(new AccountCredited("acc-8", 1)) with { Payload = Encoding.UTF8.GetBytes("[]") };
        var first = await Processor.ProcessAsync(Consumer, poison, Ct);
        var again = await Processor.ProcessAsync(Consumer, poison with { Redelivered = true }, Ct);

        Assert.Equal(InboxOutcomeKind.DeadLettered, first.Kind);
        Assert.Contains("could not be deserialized", first.Reason, StringComparison.Ordinal);
        Assert.Equal(InboxOutcomeKind.Duplicate, again.Kind);
        await using var check = InboxTestDbContext.Create(Database);
        Assert.Equal(1, await check.Set<InboxDeadLetterRecord>().CountAsync(Ct));
    }

    [Fact]
    public async Task Receive_DeadLettersAtTheConsumersCap_RefusedWithNothingWrittenAndCounted()
    {
        // Unique names: the meter is process-wide and other providers run this test too.
        var capped = $"capped-{Guid.NewGuid():N}";
        var other = $"other-{Guid.NewGuid():N}";
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().Build());
        services.AddSingleton<HandlerBehaviour>();
        services.AddDbContext<InboxTestDbContext>(options => Database.Configure(options));
        services.AddOutboxConsumer<InboxTestDbContext>(capped, c => c.AddHandler<AccountCredited, CreditHandler>().Configure(o => o.MaxDeadLetters = 2));
        services.AddOutboxConsumer<InboxTestDbContext>(other, c => c.AddHandler<AccountCredited, CreditHandler>());
        await using var provider = services.BuildServiceProvider();
        var receiver = provider.GetRequiredService<IInboxReceiver>();
        long refused = 0;
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == OutboxTelemetry.MeterName && instrument.Name == "outbox.inbox.dead_letters_refused")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "messaging.consumer.group.name" && Equals(tag.Value, capped))
                {
                    Interlocked.Add(ref refused, value);
                }
            }
        });
        listener.Start();
        IncomingMessage Poison() => Message(new AccountCredited("acc-cap", 1)) with { Payload = Encoding.UTF8.GetBytes("{not json") };

        var dispositions = new List<ReceiveDisposition>();
        for (var i = 0; i < 4; i++)
        {
            dispositions.Add(await receiver.ReceiveAsync(capped, Poison(), Ct));
        }

        var elsewhere = await receiver.ReceiveAsync(other, Poison(), Ct);

        Assert.Equal([ReceiveDisposition.Acknowledge, ReceiveDisposition.Acknowledge, ReceiveDisposition.Reject, ReceiveDisposition.Reject], dispositions);
        Assert.Equal(ReceiveDisposition.Acknowledge, elsewhere); // the cap is per consumer
        Assert.Equal(2, Interlocked.Read(ref refused));
        await using var check = InboxTestDbContext.Create(Database);
        Assert.Equal(2, await check.Set<InboxDeadLetterRecord>().CountAsync(d => d.Consumer == capped, Ct));
        Assert.Equal(2, await check.Set<InboxRecord>().CountAsync(r => r.Consumer == capped, Ct)); // the refused ones left no inbox row
        Assert.Equal(1, await check.Set<InboxDeadLetterRecord>().CountAsync(d => d.Consumer == other, Ct));
        var outcome = await provider.GetRequiredKeyedService<IInboxProcessor>(capped).ProcessAsync(capped, Poison(), Ct);
        Assert.Equal(InboxOutcomeKind.Refused, outcome.Kind);
        Assert.Contains($"Outbox:Consumers:{capped}:MaxDeadLetters", outcome.Reason, StringComparison.Ordinal);
        Assert.Contains("could not be deserialized", outcome.Reason, StringComparison.Ordinal);
    }

    // ---- Consume → write → publish ---------------------------------------------------------------------------

    [Fact]
    public async Task Process_HandlerPublishesThroughTheOutbox_MessageCommitsWithTheHandlersWritesOrNotAtAll()
    {
        Behaviour.Publish = true;
        Behaviour.FailuresLeft = 1;
        var message = Message(new AccountCredited("acc-9", 4));

        Assert.Equal(InboxOutcomeKind.Failed, (await Processor.ProcessAsync(Consumer, message, Ct)).Kind);
        await using (var check = InboxTestDbContext.Create(Database))
        {
            Assert.Equal(0, await check.Set<OutboxRecord>().CountAsync(Ct)); // rolled back with the ledger row
            Assert.Equal(0, await check.Ledger.CountAsync(Ct));
        }

        Assert.Equal(InboxOutcomeKind.Processed, (await Processor.ProcessAsync(Consumer, message, Ct)).Kind);
        Assert.Equal(InboxOutcomeKind.Duplicate, (await Processor.ProcessAsync(Consumer, message, Ct)).Kind);
        await using var after = InboxTestDbContext.Create(Database);
        var published = Assert.Single(await after.Set<OutboxRecord>().ToListAsync(Ct));
        Assert.Equal(typeof(CreditRecorded).FullName, published.MessageType);
        Assert.Equal("acc-9", published.PartitionKey);
        Assert.Equal(1, await after.Ledger.CountAsync(Ct));
        Assert.Equal(1, await after.Set<InboxRecord>().CountAsync(Ct));
    }

    // ---- Retention -------------------------------------------------------------------------------------------

    [Fact]
    public async Task Cleanup_DeletesRowsReceivedBeforeTheRetentionWindow_InBatches()
    {
        var now = DateTime.UtcNow;
        await using (var seed = InboxTestDbContext.Create(Database))
        {
            for (var i = 0; i < 25; i++)
            {
                seed.Add(new InboxRecord { Consumer = Consumer, MessageId = Guid.NewGuid(), ReceivedAt = now.AddDays(-8).AddMinutes(i), ProcessedAt = now.AddDays(-8) });
            }

            for (var i = 0; i < 3; i++)
            {
                seed.Add(new InboxRecord { Consumer = Consumer, MessageId = Guid.NewGuid(), ReceivedAt = now.AddDays(-6), ProcessedAt = now.AddDays(-6) });
            }

            await seed.SaveChangesAsync(Ct);
        }

        var cleanup = ActivatorUtilities.CreateInstance<InboxCleanupService<InboxTestDbContext>>(
            Services,
            Microsoft.Extensions.Options.Options.Create(new InboxCleanupOptions { RetentionPeriod = TimeSpan.FromDays(7), BatchSize = 10, BatchPause = TimeSpan.Zero }));

        Assert.Equal(25, await cleanup.CleanupOnceAsync(Ct));
        Assert.Equal(0, await cleanup.CleanupOnceAsync(Ct));
        await using var check = InboxTestDbContext.Create(Database);
        var left = await check.Set<InboxRecord>().ToListAsync(Ct);
        Assert.Equal(3, left.Count);
        Assert.All(left, r => Assert.True(r.ReceivedAt > now.AddDays(-7)));
    }

    // ---- Batches (MaxBatchSize) -------------------------------------------------------------------------------

    [Fact]
    public async Task ProcessBatch_HealthyMessages_AllCommitWithTheirHandlerWrites()
    {
        var batch = Enumerable.Range(1, 5).Select(i => Message(new AccountCredited($"batch-{i}", i))).ToArray();

        var outcomes = await Processor.ProcessBatchAsync(Consumer, batch, Ct);

        Assert.NotNull(outcomes);
        Assert.Equal(5, outcomes.Count);
        Assert.All(outcomes, o => Assert.Equal(InboxOutcomeKind.Processed, o.Kind));
        Assert.Equal(5, Behaviour.Invocations);
        await using var check = InboxTestDbContext.Create(Database);
        Assert.Equal(batch.Select(m => Guid.Parse(m.MessageId!)).Order(), (await check.Ledger.Select(e => e.MessageId).ToListAsync(Ct)).Order());
        Assert.Equal(5, await check.Set<InboxRecord>().CountAsync(r => r.ProcessedAt != null, Ct));
    }

    [Fact]
    public async Task ProcessBatch_AlreadyProcessedAndRepeatedMessages_AreSkippedAsDuplicates()
    {
        var done = Message(new AccountCredited("dup-1", 1));
        var fresh = Message(new AccountCredited("dup-2", 2));
        var other = Message(new AccountCredited("dup-3", 3));
        Assert.Equal(InboxOutcomeKind.Processed, (await Processor.ProcessAsync(Consumer, done, Ct)).Kind);

        var outcomes = await Processor.ProcessBatchAsync(Consumer, [done, fresh, fresh with { Redelivered = true }, other], Ct);

        Assert.NotNull(outcomes);
        Assert.Equal(
            [InboxOutcomeKind.Duplicate, InboxOutcomeKind.Processed, InboxOutcomeKind.Duplicate, InboxOutcomeKind.Processed],
            outcomes.Select(o => o.Kind));
        Assert.Equal(3, Behaviour.Invocations);
        await using var check = InboxTestDbContext.Create(Database);
        Assert.Equal(3, await check.Ledger.CountAsync(Ct));
    }

    [Fact]
    public async Task ProcessBatch_SeveralMessages_OneMultiRowInsertRecordsTheWholeBatch()
    {
        var receivedAt = new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);
        var batch = Enumerable.Range(1, 7).Select(i => Message(new AccountCredited($"rows-{i}", i)) with { ReceivedAt = receivedAt.AddSeconds(i) }).ToArray();
        _commands.Clear();

        var outcomes = await Processor.ProcessBatchAsync(Consumer, batch, Ct);

        Assert.NotNull(outcomes);
        Assert.All(outcomes, o => Assert.Equal(InboxOutcomeKind.Processed, o.Kind));
        var inserts = _commands.Texts.Where(t => t.Contains("INSERT INTO", StringComparison.Ordinal) && t.Contains("inbox", StringComparison.OrdinalIgnoreCase)).ToList();
        var insert = Assert.Single(inserts);
        Assert.Contains("ON CONFLICT DO NOTHING RETURNING", insert, StringComparison.Ordinal);
        await using var check = InboxTestDbContext.Create(Database);
        var rows = await check.Set<InboxRecord>().Where(r => r.Consumer == Consumer).ToListAsync(Ct);
        Assert.Equal(7, rows.Count);
        foreach (var message in batch)
        {
            var row = Assert.Single(rows, r => r.MessageId == Guid.Parse(message.MessageId!));
            Assert.Equal(message.ReceivedAt!.Value.UtcDateTime, DateTime.SpecifyKind(row.ReceivedAt, DateTimeKind.Utc));
            Assert.NotNull(row.ProcessedAt);
        }
    }

    [Fact]
    public async Task ProcessBatch_MoreMessagesThanOneStatementTakes_EachIsRecordedAndHandledOnce()
    {
        // Past the rows one insert statement takes (1,000): the rows go in several statements, in one transaction.
        var batch = Enumerable.Range(1, 1_003).Select(i => Message(new AccountCredited($"many-{i}", i))).ToList();
        batch.Insert(500, batch[10] with { Redelivered = true }); // a repeat within the batch, in the first statement
        batch.Add(batch[20] with { Redelivered = true }); // and one whose original went in the first statement

        var outcomes = await Processor.ProcessBatchAsync(Consumer, batch, Ct);

        Assert.NotNull(outcomes);
        Assert.Equal(1_003, outcomes.Count(o => o.Kind == InboxOutcomeKind.Processed));
        Assert.Equal(InboxOutcomeKind.Duplicate, outcomes[500].Kind);
        Assert.Equal(InboxOutcomeKind.Duplicate, outcomes[^1].Kind);
        Assert.Equal(1_003, Behaviour.Invocations);
        await using var check = InboxTestDbContext.Create(Database);
        Assert.Equal(1_003, await check.Ledger.CountAsync(Ct));
        Assert.Equal(1_003, await check.Set<InboxRecord>().CountAsync(r => r.ProcessedAt != null, Ct));
    }

    [Fact]
    public async Task ProcessBatch_OneHandlerFails_NothingOfTheBatchIsKept()
    {
        Behaviour.FailAccount = "fail-2";
        var batch = new[] { Message(new AccountCredited("fail-1", 1)), Message(new AccountCredited("fail-2", 2)), Message(new AccountCredited("fail-3", 3)) };

        Assert.Null(await Processor.ProcessBatchAsync(Consumer, batch, Ct));

        // fail-1's handler had saved its entry before fail-2 threw: one transaction, so it is gone too.
        Assert.Equal(2, Behaviour.Invocations);
        await using var check = InboxTestDbContext.Create(Database);
        Assert.Equal(0, await check.Ledger.CountAsync(Ct));
        Assert.Equal(0, await check.Set<InboxRecord>().CountAsync(Ct));
    }

    [Fact]
    public async Task ProcessBatch_PoisonMessage_RunsNoHandlerAndKeepsNothing()
    {
        var poison = Message(new AccountCredited("poison", 1)) with { MessageType = "Some.Other.Type" };

        Assert.Null(await Processor.ProcessBatchAsync(Consumer, [Message(new AccountCredited("fine", 1)), poison], Ct));

        Assert.Equal(0, Behaviour.Invocations);
        await using var check = InboxTestDbContext.Create(Database);
        Assert.Equal(0, await check.Set<InboxRecord>().CountAsync(Ct));
    }

    [Fact]
    public async Task ReceiveBatch_OneMessageAlwaysFails_TheOthersAreProcessedOnceAndItIsDeadLettered()
    {
        Behaviour.FailAccount = "bad";
        var good1 = Message(new AccountCredited("good-1", 1));
        var bad = Message(new AccountCredited("bad", 2));
        var good2 = Message(new AccountCredited("good-2", 3));

        var dispositions = await Receiver.ReceiveBatchAsync(Consumer, [good1, bad, good2], Ct);

        Assert.Equal([ReceiveDisposition.Acknowledge, ReceiveDisposition.Acknowledge, ReceiveDisposition.Acknowledge], dispositions);
        // The batch ran good-1 and bad, then each alone: good-1 once more, bad 3 times (MaxAttempts), good-2 once.
        Assert.Equal(7, Behaviour.Invocations);
        await using var check = InboxTestDbContext.Create(Database);
        Assert.Equal(["good-1", "good-2"], (await check.Ledger.Select(e => e.Account).ToListAsync(Ct)).Order());
        var dead = Assert.Single(await check.Set<InboxDeadLetterRecord>().ToListAsync(Ct));
        Assert.Equal(bad.MessageId, dead.MessageId);
        Assert.Equal(3, dead.Attempts);
    }

    [Fact]
    public async Task ReceiveBatch_HealthyMessages_EachHandlerRunsOnceAndAllAreAcknowledged()
    {
        var batch = Enumerable.Range(1, 4).Select(i => Message(new AccountCredited($"tx-{i}", i))).ToArray();

        var dispositions = await Receiver.ReceiveBatchAsync(Consumer, batch, Ct);

        Assert.All(dispositions, d => Assert.Equal(ReceiveDisposition.Acknowledge, d));
        Assert.Equal(4, Behaviour.Invocations); // no fallback: every handler ran exactly once
        await using var check = InboxTestDbContext.Create(Database);
        Assert.Equal(4, await check.Ledger.CountAsync(Ct));
    }

    [Fact]
    public async Task ReceiveBatch_EachHandlerRunsUnderItsOwnMessagesTrace()
    {
        using var listener = new System.Diagnostics.ActivityListener
        {
            ShouldListenTo = source => source.Name == OutboxTelemetry.ActivitySourceName,
            Sample = (ref System.Diagnostics.ActivityCreationOptions<System.Diagnostics.ActivityContext> _) => System.Diagnostics.ActivitySamplingResult.AllDataAndRecorded,
        };
        System.Diagnostics.ActivitySource.AddActivityListener(listener);
        var batch = Enumerable.Range(1, 3).Select(i => Message(new AccountCredited($"trace-{i}", i)) with
        {
            TraceParent = $"00-{System.Diagnostics.ActivityTraceId.CreateRandom().ToHexString()}-{System.Diagnostics.ActivitySpanId.CreateRandom().ToHexString()}-01",
        }).ToArray();

        Assert.All(await Receiver.ReceiveBatchAsync(Consumer, batch, Ct), d => Assert.Equal(ReceiveDisposition.Acknowledge, d));

        Assert.Equal(3, Behaviour.Traces.Count);
        Assert.All(Behaviour.Traces, t => Assert.Equal(t.MessageTrace, t.CurrentTrace));
        Assert.Equal(batch.Select(m => m.TraceParent!.Split('-')[1]), Behaviour.Traces.Select(t => t.MessageTrace));
    }

    // ---- helpers ---------------------------------------------------------------------------------------------

    private static IncomingMessage Message(AccountCredited payload) => new()
    {
        MessageId = Guid.CreateVersion7().ToString(),
        MessageType = typeof(AccountCredited).FullName,
        ContentType = "application/json",
        Payload = SystemTextJsonMessageSerializer.Default.Serialize(payload, typeof(AccountCredited)),
    };
}

/// <summary>Poison messages and the reason each must be dead-lettered with.</summary>
public static class InboxPoisonCases
{
    public static TheoryData<string, string> All => new()
    {
        { "malformed-json", "could not be deserialized" },
        { "unknown-type", "has no handler for message type 'Some.Other.Type'" },
        { "missing-id", "has no message id" },
        { "malformed-id", "is not a GUID" },
        { "missing-type", "has no message type" },
        { "wrong-content-type", "content type 'application/xml'" },
    };
}

/// <summary>Records the text of every command a context sends, for tests that count statements.</summary>
internal sealed class CommandLog : Microsoft.EntityFrameworkCore.Diagnostics.DbCommandInterceptor
{
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _texts = new();

    public IReadOnlyList<string> Texts => [.. _texts];

    public void Clear() => _texts.Clear();

    public override ValueTask<Microsoft.EntityFrameworkCore.Diagnostics.InterceptionResult<System.Data.Common.DbDataReader>> ReaderExecutingAsync(
        System.Data.Common.DbCommand command,
        Microsoft.EntityFrameworkCore.Diagnostics.CommandEventData eventData,
        Microsoft.EntityFrameworkCore.Diagnostics.InterceptionResult<System.Data.Common.DbDataReader> result,
        CancellationToken cancellationToken = default)
    {
        _texts.Enqueue(command.CommandText);
        return ValueTask.FromResult(result);
    }

    public override ValueTask<Microsoft.EntityFrameworkCore.Diagnostics.InterceptionResult<int>> NonQueryExecutingAsync(
        System.Data.Common.DbCommand command,
        Microsoft.EntityFrameworkCore.Diagnostics.CommandEventData eventData,
        Microsoft.EntityFrameworkCore.Diagnostics.InterceptionResult<int> result,
        CancellationToken cancellationToken = default)
    {
        _texts.Enqueue(command.CommandText);
        return ValueTask.FromResult(result);
    }
}
