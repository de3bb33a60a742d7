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

    private static (IHost Host, InMemoryTransport Transport) Build(
        FakeOutboxStore store,
        Action<OutboxDispatcherOptions> configure,
        Action<InMemoryTransport>? configureTransport = null,
        Action<ResiliencePipelineBuilder, OutboxDispatcherOptions>? resilience = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
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
