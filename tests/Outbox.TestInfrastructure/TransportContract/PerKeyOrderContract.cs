namespace Outbox.TestInfrastructure.TransportContract;

/// <summary>
/// Per-key order: messages of one partition key are handled in the order they were published, while the consumer runs
/// several keys in parallel and batches what waits.
/// </summary>
public abstract class PerKeyOrderContract<TFixture>(TFixture fixture) : TransportContractTests<TFixture>(fixture)
    where TFixture : ITransportContractFixture
{
    [Fact]
    public async Task ManyKeysOnParallelLanes_EachKeyIsHandledInPublishOrder()
    {
        const int Keys = 8;
        const int PerKey = 50;
        await Environment.StartHostAsync(
            consumerSettings: new ContractConsumerSettings { ConcurrentMessages = 4, Prefetch = 100 },
            configureInbox: o => o.MaxBatchSize = 10);
        var ids = await Environment.PlaceOrdersAsync(Keys * PerKey, i => new PublishOptions { PartitionKey = $"customer-{i % Keys}" });

        await TransportContractEnvironment.WaitUntilAsync(async () => await Environment.CountPaymentsAsync() >= ids.Count, Timeout, $"{ids.Count} payments");
        await AssertProcessedExactlyOnceAsync(ids);
        foreach (var key in Environment.Probe.Contexts.GroupBy(c => c.PartitionKey))
        {
            // The probe's queue is in handling order; a batch that rolled back and ran again would repeat numbers.
            Assert.Equal(Enumerable.Range(1, PerKey).Select(i => (long?)i), key.Select(c => c.SequenceNumber).Distinct());
        }
    }
}
