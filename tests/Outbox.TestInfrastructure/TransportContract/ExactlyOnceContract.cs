using Microsoft.Extensions.DependencyInjection;

namespace Outbox.TestInfrastructure.TransportContract;

/// <summary>
/// Consumer exactly-once with the inbox: a message the broker delivers twice (sent twice after a lost confirm) has its
/// effect once; the second copy is recognised as a duplicate and acknowledged.
/// </summary>
public abstract class ExactlyOnceContract<TFixture>(TFixture fixture) : TransportContractTests<TFixture>(fixture)
    where TFixture : ITransportContractFixture
{
    [Fact]
    public async Task SameMessageSentTwice_TheHandlerEffectHappensOnce()
    {
        var host = await Environment.StartHostAsync(dispatcher: false);
        var transport = host.Services.GetRequiredService<IMessageTransport>();
        var message = Environment.Envelope("D-1", partitionKey: "customer-1", sequence: 1);

        await transport.SendAsync(message, Ct);
        await transport.SendAsync(message, Ct);
        await transport.SendAsync(Environment.Envelope("D-2", partitionKey: "customer-1", sequence: 2), Ct);

        await TransportContractEnvironment.WaitUntilAsync(() => Task.FromResult(Environment.Outcomes.Outcomes.Count >= 3), Timeout, "all three copies to be consumed");
        Assert.Equal(2, Environment.Outcomes.Count(InboxOutcomeKind.Processed));
        Assert.True(Environment.Outcomes.Count(InboxOutcomeKind.Duplicate) >= 1);
        Assert.Equal(2, Environment.Probe.Invocations);
        Assert.Equal(2, await Environment.CountPaymentsAsync());
    }

    [Fact]
    public async Task ManyMessagesWithBatchedInbox_EachIsProcessedExactlyOnce()
    {
        await Environment.StartHostAsync(
            consumerSettings: new ContractConsumerSettings { ConcurrentMessages = 2, Prefetch = 64 },
            configureInbox: o => o.MaxBatchSize = 16);
        var ids = await Environment.PlaceOrdersAsync(500, i => new PublishOptions { PartitionKey = $"customer-{i % 10}" });

        await TransportContractEnvironment.WaitUntilAsync(async () => await Environment.CountPaymentsAsync() >= ids.Count, Timeout, $"{ids.Count} payments");
        await TransportContractEnvironment.WaitUntilAsync(async () => await Environment.CountOutboxAsync() == 0, Timeout, "an empty outbox");
        await AssertProcessedExactlyOnceAsync(ids);
        Assert.Empty(await Environment.InboxDeadLettersAsync());
    }
}
