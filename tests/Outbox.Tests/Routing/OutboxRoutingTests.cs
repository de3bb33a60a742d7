using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Outbox.TestInfrastructure;
using Outbox.Tests.Dispatcher;

namespace Outbox.Tests.Routing;

public sealed class OutboxRoutingTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ForDestinations_PrefixRouteAndDefault_EachDestinationGoesThroughItsTransport()
    {
        var store = new FakeOutboxStore();
        for (var i = 0; i < 3; i++)
        {
            store.Add(destination: "orders.placed");
        }

        store.Add(destination: "billing.invoice");
        store.Add(destination: "billing.refund");
        using var host = Build(store, outbox => outbox.UseTransport<BrokerTransport>().UseTransport<HttpLikeTransport>().ForDestinations("billing.*"));
        await host.StartAsync(Ct);
        await WaitUntilAsync(() => store.Acknowledged.Count == 5);
        await host.StopAsync(Ct);

        var broker = host.Services.GetRequiredService<BrokerTransport>();
        var http = host.Services.GetRequiredService<HttpLikeTransport>();
        Assert.Equal(["orders.placed", "orders.placed", "orders.placed"], broker.Sent.Select(m => m.Destination));
        Assert.Equal(["billing.invoice", "billing.refund"], http.Sent.Select(m => m.Destination).Order());
        Assert.Empty(store.DeadLettered);
    }

    [Fact]
    public async Task ForDestinations_PredicateRouteThenDefaultChosenAfter_BothUsed()
    {
        var store = new FakeOutboxStore();
        store.Add(destination: "billing.invoice");
        store.Add(destination: "orders.placed");
        using var host = Build(store, outbox => outbox
            .UseTransport<HttpLikeTransport>().ForDestinations(d => d.StartsWith("billing.", StringComparison.Ordinal))
            .UseTransport<BrokerTransport>());
        await host.StartAsync(Ct);
        await WaitUntilAsync(() => store.Acknowledged.Count == 2);
        await host.StopAsync(Ct);

        Assert.Equal("orders.placed", Assert.Single(host.Services.GetRequiredService<BrokerTransport>().Sent).Destination);
        Assert.Equal("billing.invoice", Assert.Single(host.Services.GetRequiredService<HttpLikeTransport>().Sent).Destination);
    }

    [Fact]
    public async Task SendAsync_DestinationNoRouteAcceptsAndNoDefault_DeadLettersAtOnceNamingTheDestination()
    {
        var store = new FakeOutboxStore();
        store.Add(destination: "shipping.label");
        store.Add(destination: "billing.invoice");
        using var host = Build(store, outbox => outbox.UseTransport<HttpLikeTransport>().ForDestinations("billing.invoice"));
        await host.StartAsync(Ct);
        await WaitUntilAsync(() => store.DeadLettered.Count == 1 && store.Acknowledged.Count == 1);
        await host.StopAsync(Ct);

        var dead = Assert.Single(store.DeadLettered);
        Assert.Contains("'shipping.label'", dead.Reason, StringComparison.Ordinal);
        Assert.Contains("no default transport", dead.Reason, StringComparison.Ordinal);
        Assert.Empty(store.Released); // never retried
        Assert.Equal("billing.invoice", Assert.Single(host.Services.GetRequiredService<HttpLikeTransport>().Sent).Destination);
    }

    [Fact]
    public void ForDestinations_NoTransportChosenJustBefore_ThrowsWithTheFix()
    {
        var services = new ServiceCollection();
        var outbox = services.AddOutbox("orders");

        var error = Assert.Throws<InvalidOperationException>(() => outbox.ForDestinations("billing.*"));

        Assert.Contains("UseHttp(...)", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ForDestinations_RoutesOfANamedOutbox_AreItsOwn()
    {
        var store = new FakeOutboxStore();
        store.Add(destination: "billing.invoice");
        store.Add(destination: "other");
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddOutbox("billing", o => o.PollingInterval = TimeSpan.FromMilliseconds(20))
            .UseTransport<HttpLikeTransport>().ForDestinations("billing.*")
            .UseTransport<BrokerTransport>();
        builder.Services.AddKeyedSingleton<IOutboxStore>("billing", store);
        using var host = builder.Build();
        await host.StartAsync(Ct);
        await WaitUntilAsync(() => store.Acknowledged.Count == 2);
        await host.StopAsync(Ct);

        Assert.Equal("billing.invoice", Assert.Single(host.Services.GetRequiredService<HttpLikeTransport>().Sent).Destination);
        Assert.Equal("other", Assert.Single(host.Services.GetRequiredService<BrokerTransport>().Sent).Destination);
    }

    [Fact]
    public async Task ForDestinations_RouteTakesBatches_ItsMessagesGoInOneRoundTripAndTheOthersOneByOne()
    {
        var store = new FakeOutboxStore();
        for (var i = 0; i < 4; i++)
        {
            store.Add(destination: "billing.invoice");
            store.Add(destination: "orders.placed");
        }

        using var host = Build(store, outbox => outbox.UseTransport<BrokerTransport>().UseTransport<BatchingTransport>().ForDestinations("billing.*"));
        await host.StartAsync(Ct);
        await WaitUntilAsync(() => store.Acknowledged.Count == 8);
        await host.StopAsync(Ct);

        var batching = host.Services.GetRequiredService<BatchingTransport>();
        Assert.Equal(4, batching.Batches.Sum(b => b.Count) + batching.Sent.Count);
        Assert.NotEmpty(batching.Batches); // the claim held several billing messages: they went together
        Assert.All(batching.Batches.SelectMany(b => b), m => Assert.Equal("billing.invoice", m.Destination));
        Assert.Equal(4, host.Services.GetRequiredService<BrokerTransport>().Sent.Count(m => m.Destination == "orders.placed"));
    }

    private static IHost Build(FakeOutboxStore store, Action<OutboxBuilder> transports)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        transports(builder.Services.AddOutbox(o =>
        {
            o.PollingInterval = TimeSpan.FromMilliseconds(20);
            o.Concurrency = 1;
        }));
        builder.Services.AddSingleton<IOutboxStore>(store);
        return builder.Build();
    }

    internal static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met within 60 s");
            await Task.Delay(10, Ct);
        }
    }
}

public sealed class BrokerTransport : RecordingTransport;

public sealed class HttpLikeTransport : RecordingTransport;

/// <summary>A route's transport that takes several messages per round trip and records each round trip.</summary>
public sealed class BatchingTransport : RecordingTransport, IMessageBatchTransport
{
    public System.Collections.Concurrent.ConcurrentQueue<IReadOnlyList<OutboxMessage>> Batches { get; } = new();

    public IReadOnlyList<IReadOnlyList<OutboxMessage>> Split(IReadOnlyList<OutboxMessage> messages) => [messages];

    public Task<IReadOnlyList<Exception?>> SendBatchAsync(IReadOnlyList<OutboxMessage> messages, CancellationToken cancellationToken)
    {
        Batches.Enqueue(messages);
        return Task.FromResult<IReadOnlyList<Exception?>>(new Exception?[messages.Count]);
    }
}
