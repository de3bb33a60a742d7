using System.Diagnostics;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Outbox.RabbitMQ.Tests.Infrastructure;
using RabbitMQ.Client;

namespace Outbox.RabbitMQ.Tests.Transport;

/// <summary>The transport alone (no dispatcher, no consumer) against the real broker.</summary>
[Collection(BrokerCollection.Name)]
public sealed class RabbitMqTransportTests(BrokerFixture fixture) : IAsyncLifetime
{
    private ShopEnvironment? _environment;

    private ShopEnvironment Environment => _environment ?? throw new InvalidOperationException("Not initialized.");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _environment = await ShopEnvironment.CreateAsync(fixture);

    public async ValueTask DisposeAsync()
    {
        if (_environment is not null)
        {
            await _environment.DisposeAsync();
        }
    }

    [Fact]
    public async Task Send_PublishesAPersistentMessageCarryingTheEnvelope()
    {
        var transport = await StartTransportAsync();
        var message = Message(partitionKey: "order-1", sequence: 3);
        await transport.SendAsync(message, Ct);

        var delivered = await GetAsync(Environment.Queue);
        var properties = delivered.BasicProperties;
        Assert.True(properties.Persistent);
        Assert.Equal(message.MessageId.ToString(), properties.MessageId);
        Assert.Equal(message.MessageType, properties.Type);
        Assert.Equal("application/json", properties.ContentType);
        Assert.Equal(message.Payload.ToArray(), delivered.Body.ToArray());
        Assert.Equal(message.MessageType, delivered.RoutingKey); // routing key = message type by default
        Assert.Equal(Environment.Exchange, delivered.Exchange); // exchange = destination by default
        var headers = properties.Headers!.Where(h => h.Value is byte[]).ToDictionary(h => h.Key, h => Encoding.UTF8.GetString((byte[])h.Value!));
        Assert.Equal(message.MessageId.ToString(), headers[OutboxHeaders.MessageId]);
        Assert.Equal(message.MessageType, headers[OutboxHeaders.MessageType]);
        Assert.Equal("order-1", headers[OutboxHeaders.PartitionKey]);
        Assert.Equal("3", headers[OutboxHeaders.SequenceNumber]);
        Assert.Equal("1", headers[OutboxHeaders.Attempt]);
        Assert.Equal(message.TraceParent, headers[OutboxHeaders.TraceParent]);
        Assert.Equal("acme", headers["tenant"]);
    }

    [Fact]
    public async Task Send_WithoutPartitionKeyOrSequence_OmitsThoseHeaders()
    {
        var transport = await StartTransportAsync();
        await transport.SendAsync(Message(traceParent: false), Ct);

        var headers = (await GetAsync(Environment.Queue)).BasicProperties.Headers!;
        Assert.False(headers.ContainsKey(OutboxHeaders.PartitionKey));
        Assert.False(headers.ContainsKey(OutboxHeaders.SequenceNumber));
        Assert.False(headers.ContainsKey(OutboxHeaders.TraceParent));
    }

    [Fact]
    public async Task Send_WithCustomRouting_UsesTheConfiguredFunctions()
    {
        var transport = await StartTransportAsync(o =>
        {
            o.ExchangeFor = _ => Environment.Exchange;
            o.RoutingKeyFor = m => $"orders.{m.PartitionKey}";
        });
        await transport.SendAsync(Message(partitionKey: "eu", destination: "ignored"), Ct);

        Assert.Equal("orders.eu", (await GetAsync(Environment.Queue)).RoutingKey);
    }

    [Fact]
    public async Task Send_ConcurrentBatch_EveryMessageIsConfirmed()
    {
        var transport = await StartTransportAsync(o => o.PublishChannels = 2);
        await Task.WhenAll(Enumerable.Range(0, 500).Select(_ => transport.SendAsync(Message(), Ct)));

        await using var connection = await Environment.ConnectAsync();
        await using var channel = await connection.CreateChannelAsync(cancellationToken: Ct);
        Assert.Equal(500u, await channel.MessageCountAsync(Environment.Queue, Ct));
    }

    [Fact]
    public async Task Send_NoQueueBoundForTheRoutingKey_FailsAsUnroutable()
    {
        var transport = await StartTransportAsync(o => o.AddExchange(Environment.Exchange + ".direct", "direct"));
        var error = await Assert.ThrowsAsync<RabbitMqUnroutableException>(
            () => transport.SendAsync(Message(destination: Environment.Exchange + ".direct"), Ct));
        Assert.Contains("No queue is bound", error.Message, StringComparison.Ordinal);

        // The channel is still good for the next message.
        await transport.SendAsync(Message(), Ct);
        await GetAsync(Environment.Queue);
    }

    [Fact]
    public async Task Send_ExchangeDoesNotExist_FailsRetryablyWithoutDisturbingOtherSends()
    {
        var transport = await StartTransportAsync();
        var good = Enumerable.Range(0, 50).Select(_ => transport.SendAsync(Message(), Ct)).ToList();
        var error = await Assert.ThrowsAsync<RabbitMqUnroutableException>(
            () => transport.SendAsync(Message(destination: Environment.Exchange + ".missing"), Ct));
        await Task.WhenAll(good);

        Assert.Contains("does not exist", error.Message, StringComparison.Ordinal);
        Assert.IsNotType<PermanentDeliveryException>(error);
        await transport.SendAsync(Message(), Ct);
    }

    [Fact]
    public async Task Send_PayloadLargerThanTheLimit_IsRejectedPermanently()
    {
        var transport = await StartTransportAsync(o => o.MaxMessageSize = 1024);
        var error = await Assert.ThrowsAsync<PermanentDeliveryException>(
            () => transport.SendAsync(Message(payload: new byte[1025]), Ct));
        Assert.Contains("1025 bytes", error.Message, StringComparison.Ordinal);
        Assert.Contains("MaxMessageSize (1024)", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_DeclaresTheConfiguredTopology_DurableAndBound()
    {
        var transport = await StartTransportAsync();
        await transport.SendAsync(Message(), Ct); // the first send connects and declares

        await using var connection = await Environment.ConnectAsync();
        await using var channel = await connection.CreateChannelAsync(cancellationToken: Ct);
        await channel.ExchangeDeclarePassiveAsync(Environment.Exchange, Ct);
        var queue = await channel.QueueDeclarePassiveAsync(Environment.Queue, Ct);
        Assert.Equal(1u, queue.MessageCount);
    }

    [Theory]
    [InlineData("Outbox:RabbitMQ:PublishChannels", "0", "PublishChannels")]
    [InlineData("Outbox:RabbitMQ:Uri", "http://localhost/", "Outbox:RabbitMQ:Uri")]
    [InlineData("Outbox:RabbitMQ:Exchanges:0:Name", "amq.mine", "Outbox:RabbitMQ:Exchanges:0:Name")]
    [InlineData("Outbox:RabbitMQ:Exchanges:0:Type", "round-robin", "Outbox:RabbitMQ:Exchanges:0:Type")]
    [InlineData("Outbox:RabbitMQ:Consumers:payments:PrefetchCount", "0", "PrefetchCount")]
    public async Task Start_InvalidOptions_FailsNamingTheOption(string key, string value, string expected)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { [key] = value });
        builder.Services.AddOutbox(o => o.Enabled = false).UseRabbitMq();
        builder.Services.AddDbContext<PaymentsDbContext>(o => o.UseNpgsql("Host=unused"));
        builder.Services.AddOutboxConsumer<PaymentsDbContext>("payments", c => c.AddHandler<OrderPlaced, OrderPlacedHandler>())
            .UseRabbitMq("some-queue");
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(Ct));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    // ---- helpers ---------------------------------------------------------------------------------------------

    private async Task<IMessageTransport> StartTransportAsync(Action<RabbitMqOptions>? configure = null)
    {
        var host = await Environment.StartHostAsync(dispatcher: false, consumer: false, configureRabbitMq: configure);
        return host.Services.GetRequiredService<IMessageTransport>();
    }

    private async Task<BasicGetResult> GetAsync(string queue)
    {
        await using var connection = await Environment.ConnectAsync();
        await using var channel = await connection.CreateChannelAsync(cancellationToken: Ct);
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            if (await channel.BasicGetAsync(queue, autoAck: true, Ct) is { } result)
            {
                return result;
            }

            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(10), $"nothing arrived in {queue}");
            await Task.Delay(20, Ct);
        }
    }

    private OutboxMessage Message(string? partitionKey = null, long? sequence = null, string? destination = null, byte[]? payload = null, bool traceParent = true) => new()
    {
        Position = 1,
        MessageId = Guid.CreateVersion7(),
        Destination = destination ?? Environment.Exchange,
        MessageType = typeof(OrderPlaced).FullName!,
        PartitionKey = partitionKey,
        SequenceNumber = sequence,
        Payload = payload ?? SystemTextJsonMessageSerializer.Default.Serialize(new OrderPlaced(Guid.NewGuid(), "T-1"), typeof(OrderPlaced)),
        ContentType = "application/json",
        Headers = new Dictionary<string, string> { ["tenant"] = "acme" },
        CreatedAt = DateTimeOffset.UtcNow,
        TraceParent = traceParent ? "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" : null,
        Attempt = 1,
    };
}
