using Outbox.RabbitMQ.Tests.Infrastructure;

namespace Outbox.RabbitMQ.Tests.Consuming;

/// <summary>With several messages in process at once, one key's messages are still handled in sequence order.</summary>
[Collection(BrokerCollection.Name)]
public sealed class KeyedLanesTests(BrokerFixture fixture) : IAsyncLifetime
{
    private ShopEnvironment? _environment;

    private ShopEnvironment Environment => _environment ?? throw new InvalidOperationException("Not initialized.");

    public async ValueTask InitializeAsync() => _environment = await ShopEnvironment.CreateAsync(fixture);

    public async ValueTask DisposeAsync()
    {
        if (_environment is not null)
        {
            await _environment.DisposeAsync();
        }
    }

    [Fact]
    public async Task ConcurrentMessages_EightLanes_KeepEachKeysSequenceOrder()
    {
        const int Keys = 40;
        const int Count = 2000;
        await Environment.StartHostAsync(configureConsumer: o =>
        {
            o.ConcurrentMessages = 8;
            o.PrefetchCount = 200;
        });
        await Environment.PlaceOrdersAsync(Count, i => new PublishOptions { PartitionKey = $"customer-{i % Keys}" });
        await ShopEnvironment.WaitUntilAsync(async () => await Environment.CountPaymentsAsync() >= Count, TimeSpan.FromSeconds(120), "every order to be paid");

        var handled = Environment.Probe.Contexts.ToList(); // in the order the handlers ran
        Assert.Equal(Count, handled.Count);
        var perKey = handled.GroupBy(c => c.PartitionKey!).ToList();
        Assert.Equal(Keys, perKey.Count);
        var expected = Enumerable.Range(1, Count / Keys).Select(i => (long?)i).ToList();
        Assert.All(perKey, key => Assert.Equal(expected, key.Select(c => c.SequenceNumber).ToList()));
    }
}
