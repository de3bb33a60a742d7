using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Confluent.Kafka;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Outbox.Kafka.Tests.Contract;
using Outbox.TestInfrastructure;

namespace Outbox.Kafka.Tests.Consuming;

/// <summary>
/// The consumer's own logic against the shared cluster, with a scripted <see cref="IInboxReceiver"/> in place of the EF
/// inbox (which the contract tests cover): a requeue rewinds the partition, offsets follow the inbox's outcomes.
/// </summary>
[Collection(KafkaCollection.Name)]
public sealed class KafkaInboxConsumerTests(KafkaContractFixture fixture)
{
    private const string ConsumerName = "unit";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ReceiveBatch_InboxAsksToRequeue_PartitionIsReadAgainFromThatMessageInOrder()
    {
        var kafka = await AcquireAsync();
        var topic = $"test.{Guid.NewGuid():N}"[..20];
        await kafka.CreateTopicAsync(topic, 1, Ct);
        await ProduceAsync(kafka, topic, 100);
        var receiver = new ScriptedReceiver(requeueOnce: 30);
        var consumer = CreateConsumer(kafka, topic, receiver, batch: 10);

        await consumer.StartAsync(Ct);
        await WaitUntilAsync(() => receiver.Acknowledged.Count >= 100, "100 acknowledged messages");
        await consumer.StopAsync(CancellationToken.None);

        // Every message acknowledged once and in offset order (so nothing after 30 before 30's second time), 30 seen twice.
        Assert.Equal(Enumerable.Range(1, 100), receiver.Acknowledged);
        Assert.Equal(2, receiver.Seen.Count(n => n == 30));
        Assert.Equal(100, Committed(kafka, topic));
    }

    [Fact]
    public async Task ReceiveBatch_InboxRefusesAMessage_CommitsPastItOnceAndTheRestFlowsInOrder()
    {
        var kafka = await AcquireAsync();
        var topic = $"test.{Guid.NewGuid():N}"[..20];
        await kafka.CreateTopicAsync(topic, 1, Ct);
        await ProduceAsync(kafka, topic, 100);
        var receiver = new ScriptedReceiver(requeueOnce: null, reject: 30);
        var consumer = CreateConsumer(kafka, topic, receiver, batch: 10);

        await consumer.StartAsync(Ct);
        await WaitUntilAsync(() => receiver.Acknowledged.Count >= 99, "99 acknowledged messages");
        await consumer.StopAsync(CancellationToken.None);

        // The refused message (the consumer's dead letters are full) is not read again and holds nothing up.
        Assert.Equal(Enumerable.Range(1, 100).Where(n => n != 30), receiver.Acknowledged);
        Assert.Equal(1, receiver.Seen.Count(n => n == 30));
        Assert.Equal(100, Committed(kafka, topic));
    }

    [Fact]
    public async Task StopAsync_AfterProcessing_CommitsExactlyWhatTheInboxAcknowledged()
    {
        var kafka = await AcquireAsync();
        var topic = $"test.{Guid.NewGuid():N}"[..20];
        await kafka.CreateTopicAsync(topic, 3, Ct);
        await ProduceAsync(kafka, topic, 60);
        var receiver = new ScriptedReceiver(requeueOnce: null);
        var consumer = CreateConsumer(kafka, topic, receiver, batch: 5);

        await consumer.StartAsync(Ct);
        await WaitUntilAsync(() => receiver.Acknowledged.Count >= 60, "60 acknowledged messages");
        await consumer.StopAsync(CancellationToken.None);

        Assert.Equal(60, Committed(kafka, topic));
        Assert.Equal(60, receiver.Acknowledged.Distinct().Count());
    }

    private async Task<KafkaServer> AcquireAsync()
    {
        try
        {
            await fixture.AcquireServersAsync(Ct);
            return fixture.Kafka!;
        }
        catch (ServerUnavailableException ex) when (!ServerRequirement.Required)
        {
            Assert.Skip($"A server is missing (set {ServerRequirement.EnvironmentVariable}=1 to make this a failure): {ex.Message}");
            throw;
        }
    }

    private static KafkaInboxConsumer CreateConsumer(KafkaServer kafka, string topic, IInboxReceiver receiver, int batch)
    {
        var services = new ServiceCollection();
        services.AddOptions<KafkaConsumerOptions>(ConsumerName).Configure(o =>
        {
            o.Topics.Add(topic);
            o.GroupId = $"{topic}.group";
            o.CommitInterval = TimeSpan.FromMilliseconds(100);
        });
        services.AddOptions<InboxConsumerOptions>(ConsumerName).Configure(o => o.MaxBatchSize = batch);
        var provider = services.BuildServiceProvider();
        return new KafkaInboxConsumer(
            ConsumerName,
            Options.Create(new KafkaOptions { BootstrapServers = kafka.BootstrapServers }),
            provider.GetRequiredService<IOptionsMonitor<KafkaConsumerOptions>>(),
            receiver,
            provider.GetRequiredService<IOptionsMonitor<InboxConsumerOptions>>(),
            TimeProvider.System,
            NullLogger<KafkaInboxConsumer>.Instance);
    }

    private static async Task ProduceAsync(KafkaServer kafka, string topic, int count)
    {
        using var producer = new ProducerBuilder<byte[]?, byte[]>(new ProducerConfig { BootstrapServers = kafka.BootstrapServers, EnableIdempotence = true }).Build();
        for (var i = 1; i <= count; i++)
        {
            var headers = new Headers
            {
                { OutboxHeaders.MessageId, Encoding.UTF8.GetBytes(Guid.NewGuid().ToString()) },
                { OutboxHeaders.MessageType, "Tests.Numbered"u8.ToArray() },
                { OutboxHeaders.SequenceNumber, Encoding.UTF8.GetBytes(i.ToString(CultureInfo.InvariantCulture)) },
            };
            await producer.ProduceAsync(topic, new Message<byte[]?, byte[]> { Key = "k"u8.ToArray(), Value = Encoding.UTF8.GetBytes(i.ToString(CultureInfo.InvariantCulture)), Headers = headers }, Ct);
        }
    }

    /// <summary>The group's committed offsets, summed over the topic's partitions.</summary>
    private static long Committed(KafkaServer kafka, string topic)
    {
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = kafka.BootstrapServers }).Build();
        var partitions = admin.GetMetadata(topic, TimeSpan.FromSeconds(30)).Topics[0].Partitions.Select(p => new TopicPartition(topic, p.PartitionId)).ToList();
        using var reader = new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig { BootstrapServers = kafka.BootstrapServers, GroupId = $"{topic}.group" }).Build();
        return reader.Committed(partitions, TimeSpan.FromSeconds(30)).Sum(p => Math.Max(0, p.Offset.Value));
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"Timed out waiting for {what}.");
            }

            await Task.Delay(50, Ct);
        }
    }

    /// <summary>
    /// Acknowledges every message, except that message <c>requeueOnce</c> is given back the first time it comes and
    /// message <c>reject</c> is refused every time (as when the consumer's dead letters are full).
    /// </summary>
    private sealed class ScriptedReceiver(int? requeueOnce, int? reject = null) : IInboxReceiver
    {
        private int _requeued;

        public ConcurrentQueue<int> Seen { get; } = new();

        public ConcurrentQueue<int> Acknowledged { get; } = new();

        public Task<ReceiveDisposition> ReceiveAsync(string consumer, IncomingMessage message, CancellationToken cancellationToken)
        {
            var number = int.Parse(Encoding.UTF8.GetString(message.Payload.Span), CultureInfo.InvariantCulture);
            Seen.Enqueue(number);
            if (number == requeueOnce && Interlocked.Exchange(ref _requeued, 1) == 0)
            {
                return Task.FromResult(ReceiveDisposition.Requeue);
            }

            if (number == reject)
            {
                return Task.FromResult(ReceiveDisposition.Reject);
            }

            Acknowledged.Enqueue(number);
            return Task.FromResult(ReceiveDisposition.Acknowledge);
        }
    }
}
