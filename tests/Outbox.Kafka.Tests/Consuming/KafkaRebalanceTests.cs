using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Outbox.Kafka.Tests.Contract;
using Outbox.TestInfrastructure.TransportContract;

namespace Outbox.Kafka.Tests.Consuming;

/// <summary>
/// Rebalance between two consumers of one group: a second member joining mid-stream takes over part of the
/// partitions, the first leaving hands all of them back; the revoked partitions' in-flight work is finished or
/// abandoned, and the inbox absorbs what comes again. Nothing is lost, nothing processed twice, each key in order.
/// </summary>
[Collection(KafkaCollection.Name)]
public sealed class KafkaRebalanceTests(KafkaContractFixture fixture) : TransportContractTests<KafkaContractFixture>(fixture)
{
    [Fact]
    public async Task SecondMemberJoinsThenFirstLeaves_EverythingProcessedExactlyOnceInKeyOrder()
    {
        var settings = new ContractConsumerSettings { ConcurrentMessages = 4, Prefetch = 50 };
        var first = await Environment.StartHostAsync(consumerSettings: settings, configureInbox: o => o.MaxBatchSize = 5);
        var ids = await Environment.PlaceOrdersAsync(900, i => new PublishOptions { PartitionKey = $"customer-{i % 18}" });
        await TransportContractEnvironment.WaitUntilAsync(async () => await Environment.CountPaymentsAsync() >= 100, Timeout, "the first 100 payments");

        // The second member (consumer only) joins: the group rebalances and it gets some of the partitions.
        var second = await Environment.StartHostAsync(dispatcher: false, consumerSettings: settings, configureInbox: o => o.MaxBatchSize = 5);
        var firstConsumer = Consumer(first);
        var secondConsumer = Consumer(second);
        await TransportContractEnvironment.WaitUntilAsync(
            () => Task.FromResult(firstConsumer.AssignedPartitions > 0 && secondConsumer.AssignedPartitions > 0
                && firstConsumer.AssignedPartitions + secondConsumer.AssignedPartitions == KafkaContractFixture.Partitions),
            Timeout,
            "both members to hold partitions");
        Output.WriteLine($"after the join: {firstConsumer.AssignedPartitions} + {secondConsumer.AssignedPartitions} partitions, {await Environment.CountPaymentsAsync()} payments");
        ids.AddRange(await Environment.PlaceOrdersAsync(300, i => new PublishOptions { PartitionKey = $"customer-{i % 18}" }, prefix: "B"));
        await TransportContractEnvironment.WaitUntilAsync(async () => await Environment.CountPaymentsAsync() >= 1000, Timeout, "1000 payments");

        // The first member leaves (its dispatcher too): the second gets every partition back.
        await Environment.StopHostAsync(first);
        await TransportContractEnvironment.WaitUntilAsync(() => Task.FromResult(secondConsumer.AssignedPartitions == KafkaContractFixture.Partitions), Timeout, "the second member to hold every partition");
        await Environment.StartHostAsync(consumer: false);
        ids.AddRange(await Environment.PlaceOrdersAsync(300, i => new PublishOptions { PartitionKey = $"customer-{i % 18}" }, prefix: "C"));

        await TransportContractEnvironment.WaitUntilAsync(async () => await Environment.CountPaymentsAsync() >= ids.Count, Timeout, $"{ids.Count} payments");
        await TransportContractEnvironment.WaitUntilAsync(async () => await Environment.CountOutboxAsync() == 0, Timeout, "an empty outbox");
        await AssertProcessedExactlyOnceAsync(ids);
        Assert.Empty(await Environment.InboxDeadLettersAsync());
        foreach (var key in Environment.Probe.Contexts.GroupBy(c => c.PartitionKey))
        {
            // Handling order per key, with a rolled-back batch's second run collapsed: the sequence numbers ascend.
            var sequences = key.Select(c => c.SequenceNumber).Distinct().ToList();
            Assert.Equal(sequences.Order(), sequences);
        }

        Output.WriteLine($"the inbox skipped {Environment.Outcomes.Count(InboxOutcomeKind.Duplicate)} redelivered duplicate(s)");
    }

    private static KafkaInboxConsumer Consumer(IHost host) => host.Services.GetRequiredKeyedService<KafkaInboxConsumer>(TransportContractEnvironment.Consumer);
}
