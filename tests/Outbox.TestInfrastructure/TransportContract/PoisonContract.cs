using System.Text;

namespace Outbox.TestInfrastructure.TransportContract;

/// <summary>
/// Poison: a malformed message (not deserializable, of no known type, without an id) and a message whose handler fails
/// every attempt are dead-lettered in the inbox table with their reason and acknowledged, never redelivered for ever,
/// while the other messages flow.
/// </summary>
public abstract class PoisonContract<TFixture>(TFixture fixture) : TransportContractTests<TFixture>(fixture)
    where TFixture : ITransportContractFixture
{
    [Fact]
    public async Task MalformedMessages_AreDeadLetteredWithTheirReasonWhileOthersFlow()
    {
        await Environment.StartHostAsync();
        var type = typeof(ContractOrderPlaced).FullName!;
        await Environment.Binding.SendRawAsync(new RawMessage { MessageId = Guid.NewGuid().ToString(), MessageType = type, Payload = "{not json"u8.ToArray() }, Ct);
        await Environment.Binding.SendRawAsync(new RawMessage { MessageId = Guid.NewGuid().ToString(), MessageType = "Billing.InvoiceIssued", Payload = "{}"u8.ToArray() }, Ct);
        await Environment.Binding.SendRawAsync(new RawMessage { MessageType = type, Payload = "{}"u8.ToArray() }, Ct);
        var ids = await Environment.PlaceOrdersAsync(20);

        await TransportContractEnvironment.WaitUntilAsync(
            async () => await Environment.CountPaymentsAsync() >= 20 && (await Environment.InboxDeadLettersAsync()).Count >= 3, Timeout, "20 payments and 3 dead letters");
        await AssertProcessedExactlyOnceAsync(ids);
        var dead = await Environment.InboxDeadLettersAsync();
        Assert.Equal(3, dead.Count);
        Assert.Contains(dead, d => d.Reason.Contains("could not be deserialized", StringComparison.Ordinal) && Encoding.UTF8.GetString(d.Payload) == "{not json");
        Assert.Contains(dead, d => d.Reason.Contains("no handler for message type 'Billing.InvoiceIssued'", StringComparison.Ordinal));
        Assert.Contains(dead, d => d.Reason.Contains("no message id", StringComparison.Ordinal));
        Assert.All(dead, d => Assert.Equal(TransportContractEnvironment.Consumer, d.Consumer));
        Assert.Equal(20, Environment.Probe.Invocations); // poison never reached the handler
    }

    [Fact]
    public async Task PoisonPastTheDeadLetterCap_IsRefusedOnceNeverRedeliveredWhileOthersFlow()
    {
        // One lane: the cap is counted, not locked, so dead letters in concurrent lanes may overshoot it by the
        // consumer's concurrency (as MaxDeadLetters documents); exactly one kept needs them one after another.
        await Environment.StartHostAsync(
            consumerSettings: new ContractConsumerSettings { ConcurrentMessages = 1 },
            configureInbox: o => o.MaxDeadLetters = 1);
        var type = typeof(ContractOrderPlaced).FullName!;
        var poison = new[] { Guid.NewGuid().ToString(), Guid.NewGuid().ToString(), Guid.NewGuid().ToString() };
        foreach (var id in poison)
        {
            await Environment.Binding.SendRawAsync(new RawMessage { MessageId = id, MessageType = type, Payload = "{not json"u8.ToArray() }, Ct);
        }

        var first = await Environment.PlaceOrdersAsync(20);
        await TransportContractEnvironment.WaitUntilAsync(
            async () => await Environment.CountPaymentsAsync() >= 20 && Environment.Outcomes.Count(InboxOutcomeKind.Refused) >= 2, Timeout, "20 payments and 2 refusals");

        // More messages behind the refused ones: a transport that gave a refused message back would meet it again first.
        var second = await Environment.PlaceOrdersAsync(20, prefix: "P");
        await TransportContractEnvironment.WaitUntilAsync(async () => await Environment.CountPaymentsAsync() >= 40, Timeout, "40 payments");
        await AssertProcessedExactlyOnceAsync([.. first, .. second]);
        var dead = Assert.Single(await Environment.InboxDeadLettersAsync());
        Assert.Contains(dead.MessageId, poison);
        var refused = Environment.Outcomes.Outcomes.Where(o => o.Kind == InboxOutcomeKind.Refused).Select(o => o.MessageId).ToList();
        Assert.Equal(2, refused.Count);
        Assert.Equal(poison.Where(p => p != dead.MessageId).Order(), refused.Order());
    }

    [Fact]
    public async Task HandlerFailingEveryAttempt_IsDeadLetteredWithoutBlockingTheOthers()
    {
        await Environment.StartHostAsync(
            consumerSettings: new ContractConsumerSettings { ConcurrentMessages = 2 },
            configureInbox: o =>
            {
                o.MaxAttempts = 3;
                o.ShouldRetry = _ => true;
            },
            configurePayments: o => o.AddInterceptors(new FailPaymentsOf("bad-order")));
        var bad = Assert.Single(await Environment.PlaceOrdersAsync(1, prefix: "bad-order"));
        var good = await Environment.PlaceOrdersAsync(30, i => new PublishOptions { PartitionKey = $"customer-{i % 3}" });

        await TransportContractEnvironment.WaitUntilAsync(
            async () => await Environment.CountPaymentsAsync() >= 30 && (await Environment.InboxDeadLettersAsync()).Count >= 1, Timeout, "30 payments and 1 dead letter");
        await AssertProcessedExactlyOnceAsync(good);
        var dead = Assert.Single(await Environment.InboxDeadLettersAsync());
        Assert.Equal(bad.ToString(), dead.MessageId);
        Assert.Equal(3, dead.Attempts);
        Assert.Contains("refused on purpose", dead.Reason, StringComparison.Ordinal);
    }
}
