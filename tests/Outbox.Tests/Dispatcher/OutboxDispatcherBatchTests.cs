using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Outbox.Tests.Dispatcher;

/// <summary>The dispatcher with a transport that carries several messages per round trip (<see cref="IMessageBatchTransport"/>).</summary>
public sealed class OutboxDispatcherBatchTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Dispatch_BatchTransport_GroupsTheClaimByDestinationAndSettlesEachMessageByItsOwnResult()
    {
        var store = new FakeOutboxStore();
        for (var i = 0; i < 4; i++)
        {
            store.Add(destination: "a");
        }

        store.Add(destination: "b");
        store.Add(destination: "a"); // the 5th of "a": refused for good
        store.Add(destination: "a"); // the 6th: refused for now
        var transport = new RecordingBatchTransport
        {
            Result = (message, index) => index switch
            {
                4 => new PermanentDeliveryException("the receiver rejected it: no such order"),
                5 => new MessageRejectedException("not now"),
                _ => null,
            },
        };
        using var host = Build(store, transport);
        await host.StartAsync(Ct);
        await WaitUntilAsync(() => store.Acknowledged.Count == 5 && store.DeadLettered.Count == 1 && store.Released.Count == 1);
        await host.StopAsync(Ct);

        var round = Assert.Single(transport.Batches);
        Assert.Equal(6, round.Count);
        Assert.All(round, m => Assert.Equal("a", m.Destination));
        Assert.Equal(["b"], transport.Singles.Select(m => m.Destination));
        Assert.Contains("no such order", Assert.Single(store.DeadLettered).Reason, StringComparison.Ordinal);
        var released = Assert.Single(store.Released);
        Assert.False(released.RefundAttempt);
        Assert.Contains("not now", released.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Dispatch_BatchRoundTripFails_EveryMessageOfItIsRetriedAndNoneDeadLettered()
    {
        var store = new FakeOutboxStore();
        for (var i = 0; i < 3; i++)
        {
            store.Add(destination: "a");
        }

        var transport = new RecordingBatchTransport { Failure = () => new HttpRequestException("connection refused") };
        using var host = Build(store, transport);
        await host.StartAsync(Ct);
        await WaitUntilAsync(() => store.Released.Count == 3);
        await host.StopAsync(Ct);

        Assert.All(store.Released, r => Assert.Contains("connection refused", r.Error, StringComparison.Ordinal));
        Assert.Empty(store.DeadLettered);
        Assert.Empty(store.Acknowledged);
    }

    [Fact]
    public async Task Dispatch_TransportSplitsIntoGroups_EachGroupIsOneRoundTripAndAGroupOfOneASingleSend()
    {
        var store = new FakeOutboxStore();
        for (var i = 0; i < 5; i++)
        {
            store.Add(destination: "a");
        }

        var transport = new RecordingBatchTransport { GroupSize = 2 };
        using var host = Build(store, transport);
        await host.StartAsync(Ct);
        await WaitUntilAsync(() => store.Acknowledged.Count == 5);
        await host.StopAsync(Ct);

        Assert.Equal([2, 2], transport.Batches.Select(b => b.Count));
        Assert.Single(transport.Singles);
    }

    private static IHost Build(FakeOutboxStore store, RecordingBatchTransport transport)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddSingleton(transport);
        builder.Services.AddOutbox(o =>
        {
            o.PollingInterval = TimeSpan.FromMilliseconds(20);
            o.Concurrency = 1;
            o.RetryBaseDelay = o.RetryMaxDelay = TimeSpan.FromMinutes(5);
        }).UseTransport<RecordingBatchTransport>();
        builder.Services.AddSingleton<IOutboxStore>(store);
        return builder.Build();
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met within 60 s");
            await Task.Delay(10, Ct);
        }
    }

    private sealed class RecordingBatchTransport : IMessageBatchTransport
    {
        public ConcurrentQueue<IReadOnlyList<OutboxMessage>> Batches { get; } = new();

        public ConcurrentQueue<OutboxMessage> Singles { get; } = new();

        public int GroupSize { get; init; } = int.MaxValue;

        public Func<OutboxMessage, int, Exception?> Result { get; init; } = (_, _) => null;

        public Func<Exception>? Failure { get; init; }

        public Task SendAsync(OutboxMessage message, CancellationToken cancellationToken)
        {
            Singles.Enqueue(message);
            return Failure is null ? Task.CompletedTask : Task.FromException(Failure());
        }

        public IReadOnlyList<IReadOnlyList<OutboxMessage>> Split(IReadOnlyList<OutboxMessage> messages) =>
            messages.Chunk(GroupSize).Select(c => (IReadOnlyList<OutboxMessage>)c).ToList();

        public Task<IReadOnlyList<Exception?>> SendBatchAsync(IReadOnlyList<OutboxMessage> messages, CancellationToken cancellationToken)
        {
            Batches.Enqueue(messages);
            if (Failure is not null)
            {
                throw Failure();
            }

            return Task.FromResult<IReadOnlyList<Exception?>>(messages.Select((m, i) => Result(m, i)).ToList());
        }
    }
}
