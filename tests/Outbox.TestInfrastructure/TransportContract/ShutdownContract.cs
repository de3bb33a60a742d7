using System.Diagnostics;
using Microsoft.Extensions.Hosting;

namespace Outbox.TestInfrastructure.TransportContract;

/// <summary>
/// Shutdown: a host stopped while messages flow stops within the host's shutdown timeout; what it had not yet
/// acknowledged is redelivered to the next host and nothing is lost or processed twice.
/// </summary>
public abstract class ShutdownContract<TFixture>(TFixture fixture) : TransportContractTests<TFixture>(fixture)
    where TFixture : ITransportContractFixture
{
    [Fact]
    public async Task HostStoppedWhileMessagesFlow_StopsInTime_AndTheNextHostProcessesTheRestExactlyOnce()
    {
        var settings = new ContractConsumerSettings { ConcurrentMessages = 4, Prefetch = 50 };
        var first = await Environment.StartHostAsync(consumerSettings: settings, configureInbox: o => o.MaxBatchSize = 5);
        var ids = await Environment.PlaceOrdersAsync(600, i => new PublishOptions { PartitionKey = $"customer-{i % 12}" });
        await TransportContractEnvironment.WaitUntilAsync(async () => await Environment.CountPaymentsAsync() >= 60, Timeout, "the first 60 payments");

        var stopping = Stopwatch.StartNew();
        await Environment.StopHostAsync(first);
        stopping.Stop();
        var processedBefore = await Environment.CountPaymentsAsync();
        Output.WriteLine($"stopped in {stopping.Elapsed.TotalSeconds:0.0} s with {processedBefore} of {ids.Count} processed");
        Assert.True(stopping.Elapsed < new HostOptions().ShutdownTimeout, $"the host took {stopping.Elapsed.TotalSeconds:0.0} s to stop");

        await Environment.StartHostAsync(consumerSettings: settings, configureInbox: o => o.MaxBatchSize = 5);
        await TransportContractEnvironment.WaitUntilAsync(async () => await Environment.CountPaymentsAsync() >= ids.Count, Timeout, $"{ids.Count} payments");
        await TransportContractEnvironment.WaitUntilAsync(async () => await Environment.CountOutboxAsync() == 0, Timeout, "an empty outbox");
        await AssertProcessedExactlyOnceAsync(ids);
        Assert.Empty(await Environment.InboxDeadLettersAsync());
        Assert.Empty(await Environment.OutboxDeadLettersAsync());
    }
}
