namespace Outbox.TestInfrastructure.TransportContract;

/// <summary>
/// Reconnect: when every connection to the broker is cut (twice) while messages are dispatched and consumed, transport
/// and consumer reconnect by themselves; nothing is lost, dead-lettered or processed twice.
/// </summary>
public abstract class ReconnectContract<TFixture>(TFixture fixture) : TransportContractTests<TFixture>(fixture)
    where TFixture : ITransportContractFixture
{
    [Fact]
    public async Task ConnectionsCutWhileMessagesFlow_EverythingIsProcessedExactlyOnce()
    {
        const int Count = 1500;
        await Environment.StartHostAsync(
            consumerSettings: new ContractConsumerSettings { ConcurrentMessages = 4, Prefetch = 50 },
            configureDispatcher: o => o.MaxAttempts = 1000, // the cuts must not dead-letter anything
            configureInbox: o => o.MaxBatchSize = 5);

        var ids = new List<Guid>(Count);
        var producer = Task.Run(
            async () =>
            {
                for (var i = 0; i < Count / 50; i++)
                {
                    ids.AddRange(await Environment.PlaceOrdersAsync(50, j => new PublishOptions { PartitionKey = $"customer-{j % 10}" }, prefix: $"R{i}"));
                    await Task.Delay(10, Ct);
                }
            },
            Ct);

        foreach (var fraction in new[] { 4, 2 })
        {
            await TransportContractEnvironment.WaitUntilAsync(async () => await Environment.CountPaymentsAsync() >= Count / fraction, Timeout, $"1/{fraction} of the payments");
            await Environment.Binding.SeverConnectionsAsync(Ct);
            Output.WriteLine($"cut the connections at {await Environment.CountPaymentsAsync()} payments, {await Environment.CountOutboxAsync()} in the outbox");
        }

        await producer;
        await TransportContractEnvironment.WaitUntilAsync(
            async () => await Environment.CountPaymentsAsync() >= Count && await Environment.CountOutboxAsync() == 0, TimeSpan.FromMinutes(3), $"all {Count} payments");
        await AssertProcessedExactlyOnceAsync(ids);
        Assert.Empty(await Environment.InboxDeadLettersAsync());
        Assert.Empty(await Environment.OutboxDeadLettersAsync());
        Output.WriteLine($"the inbox skipped {Environment.Outcomes.Count(InboxOutcomeKind.Duplicate)} redelivered duplicate(s)");
    }
}
