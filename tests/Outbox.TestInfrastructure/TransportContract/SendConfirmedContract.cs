using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;

namespace Outbox.TestInfrastructure.TransportContract;

/// <summary>
/// Send confirmed: once <see cref="IMessageTransport.SendAsync"/> returns, the broker has the message; a consumer that
/// starts only later receives it, with the whole envelope. Sends made concurrently (as a dispatcher batch is) all count.
/// </summary>
public abstract class SendConfirmedContract<TFixture>(TFixture fixture) : TransportContractTests<TFixture>(fixture)
    where TFixture : ITransportContractFixture
{
    [Fact]
    public async Task SendAsync_Returned_TheMessageWaitsAtTheBrokerForAConsumerStartedLater()
    {
        // A consumer started and stopped first, so that the destination's subscription exists (for topics), then the
        // sends happen with no consumer running.
        await Environment.StopHostAsync(await Environment.StartHostAsync(dispatcher: false));
        var sender = await Environment.StartHostAsync(dispatcher: false, consumer: false);
        var transport = sender.Services.GetRequiredService<IMessageTransport>();
        var messages = Enumerable.Range(1, 40)
            .Select(i => Environment.Envelope($"S-{i}", partitionKey: $"key-{i % 4}", sequence: (i + 3) / 4, headers: new Dictionary<string, string> { ["tenant"] = "acme" }))
            .ToList();

        using (var activity = new Activity("send").SetIdFormat(ActivityIdFormat.W3C).Start())
        {
            await Task.WhenAll(messages.Select(m => transport.SendAsync(m, Ct)));
        }

        await Environment.StopHostAsync(sender); // nothing of the transport's is left that could still send

        await Environment.StartHostAsync(dispatcher: false);
        await TransportContractEnvironment.WaitUntilAsync(async () => await Environment.CountPaymentsAsync() >= 40, Timeout, "40 payments");
        await AssertProcessedExactlyOnceAsync(messages.Select(m => m.MessageId).ToList());

        var seen = Environment.Probe.Contexts.ToDictionary(c => c.MessageId);
        foreach (var sent in messages)
        {
            var context = seen[sent.MessageId];
            Assert.Equal(sent.MessageType, context.MessageType);
            Assert.Equal(sent.PartitionKey, context.PartitionKey);
            Assert.Equal(sent.SequenceNumber, context.SequenceNumber);
            Assert.Equal("acme", context.Headers["tenant"]);
            Assert.Equal(TransportContractEnvironment.Consumer, context.Consumer);
            Assert.NotNull(context.TraceParent);
        }
    }

    [Fact]
    public async Task PublishedThroughTheOutbox_EveryMessageIsDeliveredAndTheOutboxEmpties()
    {
        await Environment.StartHostAsync();
        using var publishing = new Activity("place orders").SetIdFormat(ActivityIdFormat.W3C).Start();
        var ids = await Environment.PlaceOrdersAsync(100, i => new PublishOptions { PartitionKey = $"customer-{i % 5}" });
        publishing.Stop();

        await TransportContractEnvironment.WaitUntilAsync(async () => await Environment.CountPaymentsAsync() >= 100, Timeout, "100 payments");
        await TransportContractEnvironment.WaitUntilAsync(async () => await Environment.CountOutboxAsync() == 0, Timeout, "an empty outbox");
        await AssertProcessedExactlyOnceAsync(ids);
        Assert.Empty(await Environment.OutboxDeadLettersAsync());
        Assert.All(Environment.Probe.Contexts, c => Assert.Contains(publishing.TraceId.ToHexString(), c.TraceParent, StringComparison.Ordinal));
    }
}
