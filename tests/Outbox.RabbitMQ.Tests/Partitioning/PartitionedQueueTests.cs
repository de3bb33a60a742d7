using System.Text;
using Microsoft.EntityFrameworkCore;
using Outbox.RabbitMQ.Tests.Infrastructure;
using RabbitMQ.Client;

namespace Outbox.RabbitMQ.Tests.Partitioning;

/// <summary>
/// Partitioned queues against the real broker and a real PostgreSQL inbox: keys land in their partition, several consumer
/// hosts share one logical queue, and stopping the active one hands its partitions over without a loss, a duplicate
/// effect or a key out of order.
/// </summary>
[Collection(BrokerCollection.Name)]
public sealed class PartitionedQueueTests(BrokerFixture fixture) : IAsyncLifetime
{
    private const int Partitions = 4;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(180);
    private readonly string _name = $"test.{Guid.NewGuid().ToString("N")[..10]}.partitioned";
    private ShopEnvironment? _environment;

    private ShopEnvironment Environment => _environment ?? throw new InvalidOperationException("Not initialized.");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _environment = await ShopEnvironment.CreateAsync(fixture);

    public async ValueTask DisposeAsync()
    {
        if (_environment is null)
        {
            return;
        }

        await _environment.DisposeAsync();
        try
        {
            await using var connection = await new ConnectionFactory { Uri = _environment.Broker.AmqpUri }.CreateConnectionAsync(CancellationToken.None);
            await using var channel = await connection.CreateChannelAsync();
            for (var partition = 0; partition < Partitions; partition++)
            {
                await channel.QueueDeleteAsync($"{_name}.{partition}", ifUnused: false, ifEmpty: false);
            }

            await channel.ExchangeDeleteAsync(_name, ifUnused: false);
        }
        catch (Exception)
        {
            // The broker may be gone; the names are unique anyway.
        }
    }

    [Fact]
    public async Task Publish_KeyedAndUnkeyedMessages_EachLandsInThePartitionOfItsKeyOrId()
    {
        await StartProducerAsync();
        const int Keys = 12;
        var ids = await Environment.PlaceOrdersAsync(60, i => new PublishOptions { Destination = _name, PartitionKey = i < 48 ? $"customer-{i % Keys}" : null });
        await ShopEnvironment.WaitUntilAsync(async () => await Environment.CountOutboxAsync() == 0, Timeout, "the dispatcher to send every message");

        await using var connection = await Environment.ConnectAsync();
        await using var channel = await connection.CreateChannelAsync(cancellationToken: Ct);
        var seen = new List<Guid>();
        var used = 0;
        for (var partition = 0; partition < Partitions; partition++)
        {
            var inThisPartition = 0;
            while (await channel.BasicGetAsync($"{_name}.{partition}", autoAck: true, Ct) is { } message)
            {
                var headers = message.BasicProperties.Headers!;
                var id = Guid.Parse(Encoding.UTF8.GetString((byte[])headers[OutboxHeaders.MessageId]!));
                var key = headers.TryGetValue(OutboxHeaders.PartitionKey, out var raw) ? Encoding.UTF8.GetString((byte[])raw!) : null;
                Assert.Equal(RabbitMqPartitioning.PartitionFor(key, id, Partitions), partition);
                Assert.Equal(partition.ToString(System.Globalization.CultureInfo.InvariantCulture), message.RoutingKey);
                seen.Add(id);
                inThisPartition++;
            }

            used += inThisPartition > 0 ? 1 : 0;
        }

        Assert.Equal(ids.Order(), seen.Order());
        Assert.True(used >= 2, $"12 keys and 12 unkeyed messages used only {used} of {Partitions} partitions.");
    }

    [Fact]
    public async Task TwoConsumerHosts_EveryMessageOnceAndEachKeyInOrder()
    {
        const int Keys = 40;
        const int Count = 2_000;
        await StartProducerAsync();
        await StartConsumerAsync();
        await StartConsumerAsync();

        await Environment.PlaceOrdersAsync(Count, i => new PublishOptions { Destination = _name, PartitionKey = $"customer-{i % Keys}" });
        await ShopEnvironment.WaitUntilAsync(async () => await Environment.CountPaymentsAsync() >= Count, Timeout, $"{Count} payments");

        await AssertExactlyOnceAndInOrderAsync(Count, Keys);
    }

    [Fact]
    public async Task ActiveConsumerHostStoppedMidRun_TheOtherTakesOverItsPartitions_ExactlyOnceAndInOrder()
    {
        const int Keys = 30;
        const int Half = 1_500;
        await StartProducerAsync();
        var first = await StartConsumerAsync(); // registered first: the broker makes it active on every partition
        await StartConsumerAsync();

        await Environment.PlaceOrdersAsync(Half, i => new PublishOptions { Destination = _name, PartitionKey = $"customer-{i % Keys}" });
        await ShopEnvironment.WaitUntilAsync(async () => await Environment.CountPaymentsAsync() >= 200, Timeout, "the first 200 payments");
        await Environment.StopHostAsync(first);
        var atStop = await Environment.CountPaymentsAsync();

        // Published after the stop, so only the remaining host can handle these.
        await Environment.PlaceOrdersAsync(Half, i => new PublishOptions { Destination = _name, PartitionKey = $"customer-{(Half + i) % Keys}" }, prefix: "after");
        await ShopEnvironment.WaitUntilAsync(async () => await Environment.CountPaymentsAsync() >= 2 * Half, Timeout, $"{2 * Half} payments after the takeover");

        Assert.True(atStop < 2 * Half, $"{atStop} payments when the first host stopped");
        await AssertExactlyOnceAndInOrderAsync(2 * Half, Keys);
    }

    private Task<Microsoft.Extensions.Hosting.IHost> StartProducerAsync() =>
        Environment.StartHostAsync(consumer: false, configureRabbitMq: o => o.Partition(_name, Partitions));

    private Task<Microsoft.Extensions.Hosting.IHost> StartConsumerAsync() =>
        Environment.StartHostAsync(
            dispatcher: false,
            configureRabbitMq: o => o.Partition(_name, Partitions),
            configureConsumer: o =>
            {
                o.Queue = _name;
                o.ConcurrentMessages = 4;
                o.PrefetchCount = 50;
            },
            configureInbox: o => o.MaxBatchSize = 10);

    /// <summary>
    /// Every message has exactly one payment (the handler's effect), and each key's payments were committed in sequence
    /// order: each saw its predecessor, and only it, already committed (see <see cref="Payment.PreviousSequence"/>).
    /// </summary>
    private async Task AssertExactlyOnceAndInOrderAsync(int count, int keys)
    {
        await using var context = Environment.CreatePaymentsContext();
        var payments = await context.Payments.AsNoTracking().ToListAsync(Ct);
        Assert.Equal(count, payments.Count);
        Assert.Equal(count, payments.Select(p => p.MessageId).Distinct().Count());
        var perKey = payments.GroupBy(p => p.PartitionKey!).ToList();
        Assert.Equal(keys, perKey.Count);
        foreach (var key in perKey)
        {
            Assert.Equal(Enumerable.Range(1, count / keys).Select(i => (long?)i), key.Select(p => p.Sequence).Order());
            var outOfOrder = key.Where(p => p.PreviousSequence != p.Sequence - 1).ToList();
            Assert.True(outOfOrder.Count == 0, $"Key {key.Key}: {string.Join(", ", outOfOrder.Select(p => $"#{p.Sequence} saw #{p.PreviousSequence}"))}.");
        }
    }
}
