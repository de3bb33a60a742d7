using System.Text;
using Confluent.Kafka;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Outbox.Kafka.Tests.Contract;
using Outbox.TestInfrastructure;

namespace Outbox.Kafka.Tests.Transport;

/// <summary>The producer side against the shared cluster: what a confirmed send put on the topic, and how refusals are classified.</summary>
[Collection(KafkaCollection.Name)]
public sealed class KafkaTransportTests(KafkaContractFixture fixture)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task SendAsync_Confirmed_RecordCarriesKeyHeadersAndPayload()
    {
        var kafka = await AcquireAsync();
        var topic = await CreateTopicAsync(kafka, partitions: 3);
        using var transport = CreateTransport(kafka);
        var message = Envelope(topic, "order-7", 3, "hello", new Dictionary<string, string> { ["tenant"] = "acme" }, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");

        await transport.SendAsync(message, Ct);

        var record = Assert.Single(ReadAll(kafka, topic, expected: 1));
        Assert.Equal("order-7", Encoding.UTF8.GetString(record.Message.Key!));
        Assert.Equal("hello", Encoding.UTF8.GetString(record.Message.Value!));
        Assert.Equal(message.MessageId.ToString("D"), Header(record, OutboxHeaders.MessageId));
        Assert.Equal(message.MessageType, Header(record, OutboxHeaders.MessageType));
        Assert.Equal("order-7", Header(record, OutboxHeaders.PartitionKey));
        Assert.Equal("3", Header(record, OutboxHeaders.SequenceNumber));
        Assert.Equal("1", Header(record, OutboxHeaders.Attempt));
        Assert.Equal("text/plain", Header(record, "content-type"));
        Assert.Equal(message.TraceParent, Header(record, OutboxHeaders.TraceParent));
        Assert.Equal("acme", Header(record, "tenant"));
    }

    [Fact]
    public async Task SendAsync_BatchOfOneKey_LandsInOnePartitionInSendOrder()
    {
        var kafka = await AcquireAsync();
        var topic = await CreateTopicAsync(kafka, partitions: 6);
        using var transport = CreateTransport(kafka);

        // As the dispatcher does: the sends of a batch are started together and their reports awaited together.
        var messages = Enumerable.Range(1, 200).Select(i => Envelope(topic, $"key-{i % 4}", i, $"m{i}")).ToList();
        await Task.WhenAll(messages.Select(m => transport.SendAsync(m, Ct)));

        var records = ReadAll(kafka, topic, expected: 200);
        foreach (var key in records.GroupBy(r => Encoding.UTF8.GetString(r.Message.Key!)))
        {
            Assert.Single(key.Select(r => r.Partition.Value).Distinct());
            var sequences = key.OrderBy(r => r.Offset.Value).Select(r => long.Parse(Header(r, OutboxHeaders.SequenceNumber)!)).ToList();
            Assert.Equal(sequences.Order(), sequences);
            Assert.Equal(50, sequences.Count);
        }
    }

    [Fact]
    public async Task SendAsync_PayloadAboveMaxMessageSize_ThrowsPermanentDeliveryException()
    {
        var kafka = await AcquireAsync();
        using var transport = CreateTransport(kafka, o => o.MaxMessageSize = 1024);

        var error = await Assert.ThrowsAsync<PermanentDeliveryException>(() => transport.SendAsync(Envelope("any-topic", null, null, new string('x', 1025)), Ct));

        Assert.Contains("MaxMessageSize", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SendAsync_DestinationIsNoLegalTopicName_ThrowsPermanentDeliveryException()
    {
        var kafka = await AcquireAsync();
        using var transport = CreateTransport(kafka);

        var error = await Assert.ThrowsAsync<PermanentDeliveryException>(() => transport.SendAsync(Envelope("orders/placed", null, null, "x"), Ct));

        Assert.Contains("'/'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SendAsync_TopicsMapping_ProducesToTheMappedTopic()
    {
        var kafka = await AcquireAsync();
        var topic = await CreateTopicAsync(kafka, partitions: 1);
        using var transport = CreateTransport(kafka, o => o.Topics["Orders.OrderPlaced"] = topic);

        await transport.SendAsync(Envelope("Orders.OrderPlaced", null, null, "mapped"), Ct);

        Assert.Equal("mapped", Encoding.UTF8.GetString(Assert.Single(ReadAll(kafka, topic, expected: 1)).Message.Value!));
    }

    [Fact]
    public async Task Dispose_WithSendsInFlight_FlushesThemFirst()
    {
        var kafka = await AcquireAsync();
        var topic = await CreateTopicAsync(kafka, partitions: 2);
        var transport = CreateTransport(kafka, o => o.Linger = TimeSpan.FromMilliseconds(500));
        var sends = Enumerable.Range(1, 50).Select(i => transport.SendAsync(Envelope(topic, $"k{i % 3}", i, $"m{i}"), Ct)).ToList();

        transport.Dispose();

        await Task.WhenAll(sends).WaitAsync(TimeSpan.FromSeconds(60), Ct);
        Assert.Equal(50, ReadAll(kafka, topic, expected: 50).Count);
    }

    [Fact]
    public void Classify_MessageAndClusterErrors_AreToldApart()
    {
        var tooLarge = Assert.IsType<KafkaMessageRejectedException>(KafkaTransport.Classify(new Error(ErrorCode.MsgSizeTooLarge), "t", null));
        Assert.True(tooLarge.IsPermanent);
        var unknownTopic = Assert.IsType<KafkaMessageRejectedException>(KafkaTransport.Classify(new Error(ErrorCode.UnknownTopicOrPart), "t", null));
        Assert.False(unknownTopic.IsPermanent);
        Assert.IsType<KafkaException>(KafkaTransport.Classify(new Error(ErrorCode.Local_MsgTimedOut), "t", null));
        Assert.IsType<KafkaException>(KafkaTransport.Classify(new Error(ErrorCode.Local_AllBrokersDown), "t", null));
        Assert.IsNotType<MessageRejectedException>(KafkaTransport.Classify(new Error(ErrorCode.NotEnoughReplicas), "t", null), exactMatch: false);
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

    private static async Task<string> CreateTopicAsync(KafkaServer kafka, int partitions)
    {
        var topic = $"test.{Guid.NewGuid():N}".Substring(0, 20);
        await kafka.CreateTopicAsync(topic, partitions, Ct);
        return topic;
    }

    private static KafkaTransport CreateTransport(KafkaServer kafka, Action<KafkaOptions>? configure = null)
    {
        var options = new KafkaOptions { BootstrapServers = kafka.BootstrapServers };
        configure?.Invoke(options);
        return new KafkaTransport(Options.Create(options), TimeSpan.FromSeconds(30), NullLogger<KafkaTransport>.Instance);
    }

    private static OutboxMessage Envelope(string destination, string? key, long? sequence, string payload, Dictionary<string, string>? headers = null, string? traceParent = null) => new()
    {
        Position = 1,
        MessageId = Guid.CreateVersion7(),
        Destination = destination,
        MessageType = "Tests.Something",
        PartitionKey = key,
        SequenceNumber = sequence,
        Payload = Encoding.UTF8.GetBytes(payload),
        ContentType = "text/plain",
        Headers = headers ?? new Dictionary<string, string>(),
        TraceParent = traceParent,
        CreatedAt = DateTimeOffset.UtcNow,
        Attempt = 1,
    };

    private static string? Header(ConsumeResult<byte[]?, byte[]?> record, string name) =>
        record.Message.Headers.TryGetLastBytes(name, out var value) ? Encoding.UTF8.GetString(value) : null;

    /// <summary>Reads the topic from the start until <paramref name="expected"/> records came (or 60 s passed).</summary>
    internal static List<ConsumeResult<byte[]?, byte[]?>> ReadAll(KafkaServer kafka, string topic, int expected)
    {
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig
        {
            BootstrapServers = kafka.BootstrapServers,
            GroupId = $"reader-{Guid.NewGuid():N}",
            AutoOffsetReset = AutoOffsetReset.Earliest,
            EnableAutoCommit = false,
        }).Build();
        consumer.Subscribe(topic);
        var records = new List<ConsumeResult<byte[]?, byte[]?>>();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (records.Count < expected && DateTime.UtcNow < deadline)
        {
            if (consumer.Consume(TimeSpan.FromMilliseconds(200)) is { IsPartitionEOF: false } record)
            {
                records.Add(record);
            }
        }

        // A little longer, to see a record too many.
        var extra = DateTime.UtcNow + TimeSpan.FromSeconds(1);
        while (DateTime.UtcNow < extra)
        {
            if (consumer.Consume(TimeSpan.FromMilliseconds(200)) is { IsPartitionEOF: false } record)
            {
                records.Add(record);
            }
        }

        consumer.Close();
        return records;
    }
}
