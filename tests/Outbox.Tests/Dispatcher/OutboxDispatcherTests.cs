using Microsoft.Extensions.Time.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Outbox.Transport.InMemory;
using Polly;

namespace Outbox.Tests.Dispatcher;

public sealed class OutboxDispatcherTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Loop_WhenTheStoreFails_LogsRetriesAndThenDelivers()
    {
        var store = new FakeOutboxStore { FailNextClaims = 3 };
        store.Add();
        var (host, transport) = Build(store, o => o.ErrorMaxDelay = TimeSpan.FromMilliseconds(50));
        using (host)
        {
            await host.StartAsync(Ct);
            await WaitUntilAsync(() => transport.AcceptedCount == 1);
            await host.StopAsync(Ct);
        }

        Assert.True(store.ClaimCalls >= 4);
        Assert.Single(store.Acknowledged);
    }

    [Fact]
    public async Task Dispatch_WhenTheAcknowledgementFails_RetriesItOnceTheDatabaseIsBackWithoutSendingAgain()
    {
        var store = new FakeOutboxStore { FailNextAcknowledgements = 3 };
        store.Add();
        var (host, transport) = Build(store, o => o.ErrorMaxDelay = TimeSpan.FromMilliseconds(50));
        using (host)
        {
            await host.StartAsync(Ct);
            await WaitUntilAsync(() => !store.Acknowledged.IsEmpty);
            await host.StopAsync(Ct);
        }

        Assert.Single(store.Acknowledged);
        Assert.Equal(4, store.AcknowledgeCalls);
        Assert.Equal(1, transport.SendCalls);
    }

    [Fact]
    public async Task Dispatch_MessageClaimedMoreThanMaxAttempts_IsDeadLetteredWithoutSending()
    {
        var store = new FakeOutboxStore();
        store.Add(attempt: 3); // claimed 3 times already, each time the dispatcher died; this claim makes it 4
        var (host, transport) = Build(store, o => o.MaxAttempts = 3);
        using (host)
        {
            await host.StartAsync(Ct);
            await WaitUntilAsync(() => !store.DeadLettered.IsEmpty);
            await host.StopAsync(Ct);
        }

        var dead = Assert.Single(store.DeadLettered);
        Assert.Contains("without an outcome", dead.Reason, StringComparison.Ordinal);
        Assert.Equal(0, transport.SendCalls);
    }

    [Fact]
    public async Task Dispatch_WhenTheCircuitIsOpen_ReleasesWithoutCountingTheAttempt()
    {
        var store = new FakeOutboxStore();
        for (var i = 0; i < 30; i++)
        {
            store.Add();
        }

        var (host, transport) = Build(
            store,
            o => o.BatchSize = 30,
            transport => transport.OnSend = (_, _) => throw new TimeoutException("broker down"),
            resilience: (builder, _) => builder.AddCircuitBreaker(new Polly.CircuitBreaker.CircuitBreakerStrategyOptions
            {
                FailureRatio = 0.1,
                MinimumThroughput = 2,
                BreakDuration = TimeSpan.FromSeconds(7),
            }));
        using (host)
        {
            await host.StartAsync(Ct);
            await WaitUntilAsync(() => store.Released.Count == 30);
            await host.StopAsync(Ct);
        }

        var refunded = store.Released.Where(r => r.RefundAttempt).ToList();
        Assert.NotEmpty(refunded);
        Assert.All(refunded, r => Assert.InRange(r.Delay, TimeSpan.FromSeconds(6), TimeSpan.FromSeconds(7)));
        Assert.Contains(store.Released, r => !r.RefundAttempt && r.Error!.Contains("broker down", StringComparison.Ordinal));
        Assert.True(transport.SendCalls < 30, $"the open circuit should have stopped sends, saw {transport.SendCalls}");
    }

    [Fact]
    public async Task Dispatch_MessageRejected_SpendsAnAttemptWithBackoffAndNeverOpensTheCircuit()
    {
        // 30 refused messages of one destination and 30 good ones of another, through the default pipeline (its breaker
        // opens at 20 endpoint failures out of 30 s): refusals are the messages' failures, not the endpoint's.
        var store = new FakeOutboxStore();
        for (var i = 0; i < 30; i++)
        {
            store.Add(destination: "unroutable");
            store.Add(destination: "healthy");
        }

        var (host, transport) = Build(
            store,
            o => o.BatchSize = 20,
            transport => transport.OnSend = (message, _) => message.Destination == "unroutable"
                ? throw new MessageRejectedException("312 NO_ROUTE")
                : Task.CompletedTask);
        using (host)
        {
            await host.StartAsync(Ct);
            await WaitUntilAsync(() => store.Released.Count == 30 && store.Acknowledged.Count == 30);
            await host.StopAsync(Ct);
        }

        Assert.All(store.Released, r =>
        {
            Assert.False(r.RefundAttempt);
            Assert.True(r.Delay > TimeSpan.Zero);
            Assert.Contains("312 NO_ROUTE", r.Error, StringComparison.Ordinal);
        });
        Assert.Equal(60, transport.SendCalls); // each sent once: no immediate retry, no open circuit
        Assert.Empty(store.DeadLettered);
    }

    [Fact]
    public async Task Dispatch_MessageRejectedOnItsLastAttempt_IsDeadLetteredWithTheReason()
    {
        var store = new FakeOutboxStore();
        store.Add(attempt: 2);
        var (host, _) = Build(
            store,
            o => o.MaxAttempts = 3,
            transport => transport.OnSend = (_, _) => throw new MessageRejectedException("312 NO_ROUTE"));
        using (host)
        {
            await host.StartAsync(Ct);
            await WaitUntilAsync(() => !store.DeadLettered.IsEmpty);
            await host.StopAsync(Ct);
        }

        var dead = Assert.Single(store.DeadLettered);
        Assert.Contains("Failed 3 attempt(s)", dead.Reason, StringComparison.Ordinal);
        Assert.Contains("312 NO_ROUTE", dead.Reason, StringComparison.Ordinal);
        Assert.Empty(store.Released);
    }

    [Fact]
    public async Task Dispatch_PermanentRejection_IsDeadLetteredAtOnce()
    {
        var store = new FakeOutboxStore();
        store.Add();
        var (host, transport) = Build(
            store,
            o => o.MaxAttempts = 10,
            transport => transport.OnSend = (_, _) => throw new PermanentDeliveryException("too large"));
        using (host)
        {
            await host.StartAsync(Ct);
            await WaitUntilAsync(() => !store.DeadLettered.IsEmpty);
            await host.StopAsync(Ct);
        }

        Assert.Contains("too large", Assert.Single(store.DeadLettered).Reason, StringComparison.Ordinal);
        Assert.Equal(1, transport.SendCalls);
    }

    [Fact]
    public async Task Dispatch_WhenOneDestinationsCircuitIsOpen_OtherDestinationsAreStillSent()
    {
        var store = new FakeOutboxStore();
        for (var i = 0; i < 30; i++)
        {
            store.Add(destination: "down");
            store.Add(destination: "up");
        }

        IReadOnlyList<OutboxEndpointState> endpoints;
        var (host, _) = Build(
            store,
            o => o.BatchSize = 10,
            transport => transport.OnSend = (message, _) => message.Destination == "down"
                ? throw new IOException("connection refused")
                : Task.CompletedTask,
            resilience: (builder, _) => builder.AddCircuitBreaker(new Polly.CircuitBreaker.CircuitBreakerStrategyOptions
            {
                ShouldHandle = args => new ValueTask<bool>(OutboxResilience.IsEndpointFailure(args.Outcome.Exception)),
                FailureRatio = 0.1,
                MinimumThroughput = 2,
                BreakDuration = TimeSpan.FromSeconds(30),
            }));
        using (host)
        {
            await host.StartAsync(Ct);
            await WaitUntilAsync(() => store.Released.Count == 30 && store.Acknowledged.Count == 30);
            await host.StopAsync(Ct);
            endpoints = host.Services.GetRequiredService<OutboxEndpointStates>().Snapshot();
        }

        var refunded = store.Released.Where(r => r.RefundAttempt).ToList();
        Assert.NotEmpty(refunded); // "down" opened its own circuit...
        Assert.All(refunded, r => Assert.Contains("'down' is open", r.Error, StringComparison.Ordinal));
        Assert.All(refunded, r => Assert.Contains("connection refused", r.Error, StringComparison.Ordinal)); // ...for the real cause
        Assert.Equal(30, store.Acknowledged.Count); // ...and "up" was never refused

        // The outbox's endpoint registry shows "down" open for its real cause, and "up" not at all.
        var endpoint = Assert.Single(endpoints);
        Assert.Equal(("down", OutboxCircuitState.Open, typeof(IOException).FullName, "connection refused"), (endpoint.Destination, endpoint.State, endpoint.CauseType, endpoint.Cause));
        Assert.Equal(refunded.Count, endpoint.Refused);
    }

    [Theory]
    [InlineData(typeof(IOException), true)]
    [InlineData(typeof(TimeoutException), true)]
    [InlineData(typeof(HttpRequestException), true)]
    [InlineData(typeof(TaskCanceledException), true)]
    [InlineData(typeof(Polly.Timeout.TimeoutRejectedException), true)]
    [InlineData(typeof(MessageRejectedException), false)]
    [InlineData(typeof(PermanentDeliveryException), false)]
    [InlineData(typeof(Polly.CircuitBreaker.BrokenCircuitException), false)]
    public void IsEndpointFailure_ByExceptionType_ClassifiesEndpointAndMessageFailures(Type exceptionType, bool endpoint)
    {
        var exception = (Exception)Activator.CreateInstance(exceptionType)!;

        Assert.Equal(endpoint, OutboxResilience.IsEndpointFailure(exception));
        Assert.Equal(endpoint, OutboxResilience.IsTransient(exception, CancellationToken.None));
    }

    [Fact]
    public async Task Loop_AfterAFullBatchOrAShortKeyedOne_ClaimsAgainAtOnce()
    {
        // A full batch may leave rows behind; a keyed batch is short by design (head-of-line takes one row per key per
        // claim). Either way the next claim goes at once. The clock never moves, so no claim here waited.
        var store = new FakeOutboxStore();
        store.Add();
        store.Add();
        store.Add(partitionKey: "k");
        var (host, transport) = Build(store, o => o.BatchSize = 2, time: new FakeTimeProvider());
        using (host)
        {
            await host.StartAsync(Ct);

            // Claims: the full batch of 2, then the keyed batch of 1, then the empty claim that starts the idle wait.
            await WaitUntilAsync(() => store.Acknowledged.Count == 3 && store.ClaimCalls == 3);
            await host.StopAsync(Ct);
        }

        Assert.Equal(3, transport.AcceptedCount);
    }

    [Fact]
    public async Task Loop_WokenByASignal_AfterAShortUnkeyedBatch_ClaimsOnlyAtTheNextSignal()
    {
        // Every claim after the first was started by a signal: one claim per commit, no empty claim after each batch
        // (the commits that follow will signal too).
        var (accepted, claims) = await RunIdleLoopAsync(async (store, signal) =>
        {
            store.Add();
            signal.NotifyCommitted();
            await WaitUntilAsync(() => store.Acknowledged.Count == 1);
            store.Add();
            signal.NotifyCommitted();
            await WaitUntilAsync(() => store.Acknowledged.Count == 2);
        });

        Assert.Equal(2, accepted);
        Assert.Equal(3, claims);
    }

    [Fact]
    public async Task Loop_WokenByASignal_AfterAShortKeyedBatch_ClaimsAgainAtOnce()
    {
        // A keyed claim is short by design (a key's next row waits for its predecessor to be delivered): even when
        // commits signal, the loop claims again right after it.
        var (accepted, claims) = await RunIdleLoopAsync(async (store, signal) =>
        {
            store.Add(partitionKey: "k");
            signal.NotifyCommitted();
            await WaitUntilAsync(() => store.Acknowledged.Count == 1 && store.ClaimCalls == 3);
        });

        Assert.Equal(1, accepted);
        Assert.Equal(3, claims);
    }

    [Fact]
    public async Task Loop_WokenByAWakeUpThatAnnouncesNoCommit_AfterAShortBatch_ClaimsAgainAtOnce()
    {
        // A wake-up that is not a commit (a listener starting, a test's nudge) says nothing about whether commits
        // signal: the loop treats the work it finds like work found by polling.
        var (accepted, claims) = await RunIdleLoopAsync(async (store, signal) =>
        {
            store.Add();
            signal.Notify();
            await WaitUntilAsync(() => store.Acknowledged.Count == 1 && store.ClaimCalls == 3);
        });

        Assert.Equal(1, accepted);
        Assert.Equal(3, claims);
    }

    [Fact]
    public async Task Loop_WorkFoundByPolling_AfterAShortBatch_ClaimsAgainAtOnce()
    {
        // Nothing signalled this row (another process, a retry coming due): more may follow unannounced, so the loop
        // looks again at once instead of waiting for a signal.
        var store = new FakeOutboxStore();
        store.Add();
        var (host, transport) = Build(store, o => o.BatchSize = 10, time: new FakeTimeProvider());
        using (host)
        {
            await host.StartAsync(Ct);
            await WaitUntilAsync(() => store.Acknowledged.Count == 1 && store.ClaimCalls == 2);
            await host.StopAsync(Ct);
        }

        Assert.Equal(1, transport.AcceptedCount);
        Assert.Equal(2, store.ClaimCalls);
    }

    [Fact]
    public void IsTransient_SendItselfCancelled_IsNotRetried()
    {
        Assert.False(OutboxResilience.IsTransient(new OperationCanceledException(), new CancellationToken(canceled: true)));
        Assert.False(OutboxResilience.IsEndpointFailure(null));
    }

    [Fact]
    public void MessageRejectedException_IsPermanent_OnlyForPermanentDeliveryException()
    {
        Assert.False(new MessageRejectedException("no route").IsPermanent);
        Assert.True(new PermanentDeliveryException("too large").IsPermanent);
    }

    /// <summary>
    /// Starts one loop over an empty store with a clock that never moves, waits for its first (empty) claim, runs
    /// <paramref name="act"/>, stops; returns the messages sent and the claims made. No wait here ends by time, so every
    /// claim after the first was started by the signal or by the loop's own rule of claiming again at once.
    /// </summary>
    private static async Task<(long Accepted, long Claims)> RunIdleLoopAsync(Func<FakeOutboxStore, OutboxSignal, Task> act)
    {
        var store = new FakeOutboxStore();
        var (host, transport) = Build(store, o => o.BatchSize = 10, time: new FakeTimeProvider());
        using (host)
        {
            var signal = host.Services.GetRequiredKeyedService<OutboxSignal>(OutboxInstance.DefaultName);
            await host.StartAsync(Ct);
            await WaitUntilAsync(() => store.ClaimCalls == 1); // empty: the loop now waits
            await act(store, signal);
            await host.StopAsync(Ct);
        }

        return (transport.AcceptedCount, store.ClaimCalls);
    }

    private static (IHost Host, InMemoryTransport Transport) Build(
        FakeOutboxStore store,
        Action<OutboxDispatcherOptions> configure,
        Action<InMemoryTransport>? configureTransport = null,
        Action<ResiliencePipelineBuilder, OutboxDispatcherOptions>? resilience = null,
        TimeProvider? time = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        if (time is not null)
        {
            builder.Services.AddSingleton(time);
        }

        var outbox = builder.Services.AddOutbox(o =>
        {
            o.PollingInterval = TimeSpan.FromMilliseconds(20);
            o.Concurrency = 1;
            configure(o);
        }).UseInMemoryTransport();
        if (resilience is not null)
        {
            outbox.ConfigureResilience(resilience);
        }

        builder.Services.AddSingleton<IOutboxStore>(store);
        var host = builder.Build();
        var transport = host.Services.GetRequiredService<InMemoryTransport>();
        configureTransport?.Invoke(transport);
        return (host, transport);
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met within 30 s");
            await Task.Delay(10, Ct);
        }
    }
}
