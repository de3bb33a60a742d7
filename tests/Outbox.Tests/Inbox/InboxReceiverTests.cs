using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Outbox.Tests.Inbox;

/// <summary>The retry and dead-letter policy of the receive loop, against a scripted inbox processor.</summary>
public sealed class InboxReceiverTests
{
    private const string Consumer = "orders";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Receive_Processed_AcknowledgesAfterOneAttempt()
    {
        var processor = new ScriptedProcessor(InboxOutcome.Processed);
        var receiver = Build(processor);

        Assert.Equal(ReceiveDisposition.Acknowledge, await receiver.ReceiveAsync(Consumer, Message(), Ct));
        Assert.Equal([1], processor.Attempts);
        Assert.NotNull(processor.Seen[0].ReceivedAt);
    }

    [Fact]
    public async Task Receive_FailsTwiceThenSucceeds_RetriesInProcessWithIncreasingAttemptNumbers()
    {
        var processor = new ScriptedProcessor(Failed(), Failed(), InboxOutcome.Processed);
        var receiver = Build(processor);

        Assert.Equal(ReceiveDisposition.Acknowledge, await receiver.ReceiveAsync(Consumer, Message(), Ct));
        Assert.Equal([1, 2, 3], processor.Attempts);
        Assert.Empty(processor.DeadLetters);
        Assert.Single(processor.Seen.Select(m => m.ReceivedAt).Distinct()); // one receipt time for all attempts
    }

    [Fact]
    public async Task Receive_AlwaysFails_IsDeadLetteredAfterMaxAttemptsWithTheLastError()
    {
        var processor = new ScriptedProcessor(Failed("boom 1"), Failed("boom 2"), Failed("boom 3"));
        var receiver = Build(processor, o => o.MaxAttempts = 3);

        Assert.Equal(ReceiveDisposition.Acknowledge, await receiver.ReceiveAsync(Consumer, Message(), Ct));
        var (reason, attempts) = Assert.Single(processor.DeadLetters);
        Assert.Equal(3, attempts);
        Assert.Contains("Failed 3 attempt(s) (limit 3)", reason, StringComparison.Ordinal);
        Assert.Contains("boom 3", reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Receive_ErrorThatShouldNotBeRetried_IsDeadLetteredAtOnce()
    {
        var processor = new ScriptedProcessor(InboxOutcome.Failed(new ArgumentException("bad amount"), retryable: true));
        var receiver = Build(processor, o => o.ShouldRetry = ex => ex is not ArgumentException);

        Assert.Equal(ReceiveDisposition.Acknowledge, await receiver.ReceiveAsync(Consumer, Message(), Ct));
        Assert.Equal([1], processor.Attempts);
        var (reason, attempts) = Assert.Single(processor.DeadLetters);
        Assert.Equal(1, attempts);
        Assert.Contains("not retried", reason, StringComparison.Ordinal);
        Assert.Contains("bad amount", reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Receive_PoisonDeadLetteredByTheProcessor_AcknowledgesWithoutRetry()
    {
        var processor = new ScriptedProcessor(InboxOutcome.DeadLettered("payload is not JSON"));
        var receiver = Build(processor);

        Assert.Equal(ReceiveDisposition.Acknowledge, await receiver.ReceiveAsync(Consumer, Message(), Ct));
        Assert.Equal([1], processor.Attempts);
    }

    [Fact]
    public async Task Receive_DeadLetterWriteFails_RequeuesAfterTheDelayAndNeverDrops()
    {
        var processor = new ScriptedProcessor(Failed(), Failed()) { DeadLetterError = new TimeoutException("database down") };
        var receiver = Build(processor, o =>
        {
            o.MaxAttempts = 2;
            o.RequeueDelay = TimeSpan.FromMilliseconds(100);
        });

        var started = DateTime.UtcNow;
        Assert.Equal(ReceiveDisposition.Requeue, await receiver.ReceiveAsync(Consumer, Message(), Ct));
        Assert.True(DateTime.UtcNow - started >= TimeSpan.FromMilliseconds(90), "requeued without holding the message");
    }

    [Fact]
    public async Task Receive_StoreUnavailable_RetriesWithoutCountingAgainstTheMessageThenRequeues()
    {
        var down = InboxOutcome.Unavailable(new TimeoutException("database down"));
        var processor = new ScriptedProcessor(down, down, InboxOutcome.Processed);
        var receiver = Build(processor, o => o.MaxAttempts = 3);
        Assert.Equal(ReceiveDisposition.Acknowledge, await receiver.ReceiveAsync(Consumer, Message(), Ct));
        Assert.Equal([1, 1, 1], processor.Attempts); // the handler never ran: still its first attempt

        var stillDown = new ScriptedProcessor(down, down, down);
        Assert.Equal(ReceiveDisposition.Requeue, await Build(stillDown, o => o.MaxAttempts = 3).ReceiveAsync(Consumer, Message(), Ct));
        Assert.Empty(stillDown.DeadLetters); // not the message's fault: never dead-lettered
    }

    [Fact]
    public async Task Receive_Cancelled_ThrowsSoTheTransportLeavesTheMessageForRedelivery()
    {
        var processor = new ScriptedProcessor(Failed(), Failed(), Failed());
        var receiver = Build(processor, o => o.RetryBaseDelay = o.RetryMaxDelay = TimeSpan.FromMinutes(1));
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => receiver.ReceiveAsync(Consumer, Message(), cancel.Token));
        Assert.Empty(processor.DeadLetters);
    }

    [Fact]
    public async Task Start_RetryBaseDelayAboveMax_FailsNamingTheConsumerAndOption()
    {
        var error = await StartExpectingFailureAsync(new() { ["Outbox:Consumers:orders:RetryBaseDelay"] = "00:01:00", ["Outbox:Consumers:orders:RetryMaxDelay"] = "00:00:01" });
        Assert.Contains("Outbox:Consumers:orders:RetryBaseDelay", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_MaxAttemptsZero_FailsNamingTheOption()
    {
        var error = await StartExpectingFailureAsync(new() { ["Outbox:Consumers:orders:MaxAttempts"] = "0" });
        Assert.Contains("MaxAttempts", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_ConsumerWithoutHandlerOrStore_FailsSayingWhatToCall()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        OutboxConsumerBuilder.Create(builder.Services, Consumer);
        using var host = builder.Build();
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(Ct));
        Assert.Contains("has no message handler", error.Message, StringComparison.Ordinal);
        Assert.Contains("has no inbox store", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("has space")]
    [InlineData("a:b")]
    public void AddConsumer_InvalidName_Throws(string name)
    {
        var error = Assert.Throws<ArgumentException>(() => OutboxConsumerBuilder.Create(new ServiceCollection(), name));
        Assert.Contains("consumer name", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AddHandler_SecondHandlerForTheSameType_Throws()
    {
        var builder = OutboxConsumerBuilder.Create(new ServiceCollection(), Consumer).AddHandler<Ping, PingHandler>();
        var error = Assert.Throws<ArgumentException>(() => builder.AddHandler<Ping, OtherPingHandler>());
        Assert.Contains("already has a handler", error.Message, StringComparison.Ordinal);
    }

    // ---- helpers ---------------------------------------------------------------------------------------------

    [Fact]
    public void MaxBatchSize_Default_BatchesWhatWaits()
    {
        Assert.Equal(50, new InboxConsumerOptions().MaxBatchSize);
    }

    [Fact]
    public async Task ReceiveBatch_BatchingOff_ProcessesOneByOneWithoutAskingForABatch()
    {
        var processor = new ScriptedProcessor { Batch = m => [.. m.Select(_ => InboxOutcome.Processed)] };
        var receiver = Build(processor, o => o.MaxBatchSize = 1);

        var dispositions = await receiver.ReceiveBatchAsync(Consumer, [Message(), Message()], Ct);

        Assert.Equal([ReceiveDisposition.Acknowledge, ReceiveDisposition.Acknowledge], dispositions);
        Assert.Empty(processor.Batches);
        Assert.Equal(2, processor.Seen.Count);
    }

    [Fact]
    public async Task ReceiveBatch_BatchCommits_AcknowledgesAllWithoutProcessingAnyAlone()
    {
        var processor = new ScriptedProcessor { Batch = m => [InboxOutcome.Processed, InboxOutcome.Duplicate, InboxOutcome.Processed] };
        var receiver = Build(processor, o => o.MaxBatchSize = 10);

        var dispositions = await receiver.ReceiveBatchAsync(Consumer, [Message(), Message(), Message()], Ct);

        Assert.Equal([ReceiveDisposition.Acknowledge, ReceiveDisposition.Acknowledge, ReceiveDisposition.Acknowledge], dispositions);
        Assert.Equal([3], processor.Batches);
        Assert.Empty(processor.Seen);
    }

    [Fact]
    public async Task ReceiveBatch_BatchFails_EachMessageIsProcessedAloneWithItsOwnRetries()
    {
        var processor = new ScriptedProcessor(InboxOutcome.Processed, Failed(), InboxOutcome.Processed, InboxOutcome.Processed);
        var receiver = Build(processor, o => o.MaxBatchSize = 10);
        var messages = new[] { Message(), Message(), Message() };

        var dispositions = await receiver.ReceiveBatchAsync(Consumer, messages, Ct);

        Assert.Equal([ReceiveDisposition.Acknowledge, ReceiveDisposition.Acknowledge, ReceiveDisposition.Acknowledge], dispositions);
        Assert.Equal([3], processor.Batches);
        Assert.Equal(
            [messages[0].MessageId, messages[1].MessageId, messages[1].MessageId, messages[2].MessageId],
            processor.Seen.Select(m => m.MessageId));
        Assert.Equal([1, 1, 2, 1], processor.Attempts);
    }

    [Fact]
    public async Task ReceiveBatch_AMessageMustBeRequeued_TheOnesAfterItAreNotProcessed()
    {
        var unavailable = InboxOutcome.Unavailable(new IOException("database down"));
        var processor = new ScriptedProcessor(InboxOutcome.Processed, unavailable, unavailable);
        var receiver = Build(processor, o =>
        {
            o.MaxBatchSize = 10;
            o.MaxAttempts = 2;
        });

        var dispositions = await receiver.ReceiveBatchAsync(Consumer, [Message(), Message(), Message()], Ct);

        Assert.Equal([ReceiveDisposition.Acknowledge, ReceiveDisposition.Requeue, ReceiveDisposition.Requeue], dispositions);
        Assert.Equal(3, processor.Seen.Count); // the first once, the second twice, the third never
    }

    private static async Task<Exception> StartExpectingFailureAsync(Dictionary<string, string?> settings)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Services.AddKeyedSingleton<IInboxProcessor>(Consumer, new ScriptedProcessor());
        OutboxConsumerBuilder.Create(builder.Services, Consumer).AddHandler<Ping, PingHandler>();
        using var host = builder.Build();
        return await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(Ct));
    }

    private static IInboxReceiver Build(ScriptedProcessor processor, Action<InboxConsumerOptions>? configure = null)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().Build());
        services.AddKeyedSingleton<IInboxProcessor>(Consumer, processor);
        OutboxConsumerBuilder.Create(services, Consumer).AddHandler<Ping, PingHandler>().Configure(o =>
        {
            o.RetryBaseDelay = TimeSpan.FromMilliseconds(1);
            o.RetryMaxDelay = TimeSpan.FromMilliseconds(5);
            o.RequeueDelay = TimeSpan.Zero;
            configure?.Invoke(o);
        });
        return services.BuildServiceProvider().GetRequiredService<IInboxReceiver>();
    }

    private static InboxOutcome Failed(string message = "boom") => InboxOutcome.Failed(new InvalidOperationException(message), retryable: true);

    private static IncomingMessage Message() => new()
    {
        MessageId = Guid.NewGuid().ToString(),
        MessageType = typeof(Ping).FullName,
        Payload = "{}"u8.ToArray(),
    };

    public sealed record Ping;

    public sealed class PingHandler : IMessageHandler<Ping>
    {
        public Task HandleAsync(Ping message, MessageContext context, CancellationToken cancellationToken) => Task.CompletedTask;
    }

    public sealed class OtherPingHandler : IMessageHandler<Ping>
    {
        public Task HandleAsync(Ping message, MessageContext context, CancellationToken cancellationToken) => Task.CompletedTask;
    }

    /// <summary>Returns the scripted outcomes in turn; records what it saw.</summary>
    private sealed class ScriptedProcessor(params InboxOutcome[] outcomes) : IInboxProcessor
    {
        private readonly Queue<InboxOutcome> _outcomes = new(outcomes);

        public List<IncomingMessage> Seen { get; } = [];

        public List<int> Attempts => Seen.Select(m => m.DeliveryAttempt).ToList();

        public List<(string Reason, int Attempts)> DeadLetters { get; } = [];

        public Exception? DeadLetterError { get; init; }

        /// <summary>What <see cref="ProcessBatchAsync"/> answers: null (the batch failed) or one outcome per message.</summary>
        public Func<IReadOnlyList<IncomingMessage>, IReadOnlyList<InboxOutcome>?> Batch { get; init; } = _ => null;

        public List<int> Batches { get; } = [];

        public Task<IReadOnlyList<InboxOutcome>?> ProcessBatchAsync(string consumer, IReadOnlyList<IncomingMessage> messages, CancellationToken cancellationToken)
        {
            Batches.Add(messages.Count);
            return Task.FromResult(Batch(messages));
        }

        public Task<InboxOutcome> ProcessAsync(string consumer, IncomingMessage message, CancellationToken cancellationToken)
        {
            cancellationToken.ThrowIfCancellationRequested();
            Seen.Add(message);
            return Task.FromResult(_outcomes.Count > 0 ? _outcomes.Dequeue() : InboxOutcome.Processed);
        }

        public Task<InboxOutcome> DeadLetterAsync(string consumer, IncomingMessage message, string reason, int attempts, CancellationToken cancellationToken)
        {
            if (DeadLetterError is not null)
            {
                throw DeadLetterError;
            }

            DeadLetters.Add((reason, attempts));
            return Task.FromResult(InboxOutcome.DeadLettered(reason));
        }
    }
}
