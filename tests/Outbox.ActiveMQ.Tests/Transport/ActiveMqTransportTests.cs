using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Outbox.ActiveMQ.Stomp;

namespace Outbox.ActiveMQ.Tests.Transport;

/// <summary>
/// The transport's failure classification and checks, against a scripted STOMP peer (what the real broker cannot be
/// made to do on demand) and without any broker.
/// </summary>
public sealed class ActiveMqTransportTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static OutboxMessage Message(string destination = "orders", int payload = 10, IReadOnlyDictionary<string, string>? headers = null) => new()
    {
        Position = 1,
        MessageId = Guid.CreateVersion7(),
        Destination = destination,
        MessageType = "Orders.OrderPlaced",
        PartitionKey = "customer-1",
        SequenceNumber = 3,
        Payload = new byte[payload],
        ContentType = "application/json",
        Headers = headers ?? new Dictionary<string, string>(),
        CreatedAt = DateTimeOffset.UtcNow,
        Attempt = 1,
    };

    private static ActiveMqTransport Transport(Uri uri, Action<ActiveMqOptions>? configure = null)
    {
        var options = new ActiveMqOptions { Uri = uri, ReconnectInterval = TimeSpan.FromSeconds(30), HeartBeat = TimeSpan.Zero, ReceiptTimeout = TimeSpan.FromSeconds(60) };
        configure?.Invoke(options);
        var wrapped = Options.Create(options);
        return new ActiveMqTransport(wrapped, new ActiveMqConnectionFactory(wrapped, TimeProvider.System), TimeProvider.System, NullLogger<ActiveMqTransport>.Instance);
    }

    [Fact]
    public async Task SendAsync_BrokerAnswersTheSendWithAnError_IsARejectionOfThatMessageWithTheBrokersReason()
    {
        await using var peer = new ScriptedStompPeer();
        await using var transport = Transport(peer.Uri);

        await transport.SendAsync(Message("accepted"), Ct);
        var error = await Assert.ThrowsAsync<ActiveMqRejectedException>(() => transport.SendAsync(Message("refuse.me"), Ct));
        Assert.False(error.IsPermanent);
        Assert.Contains("not authorized to write to /queue/refuse.me", error.Message, StringComparison.Ordinal);

        var sent = peer.Sends.ToList();
        Assert.Equal(["/queue/accepted", "/queue/refuse.me"], sent.Select(f => f["destination"]));
        var first = sent[0];
        Assert.Equal("true", first["persistent"]);
        Assert.Equal("customer-1", first["JMSXGroupID"]);
        Assert.Equal("customer-1", first[OutboxHeaders.PartitionKey]);
        Assert.Equal("3", first[OutboxHeaders.SequenceNumber]);
        Assert.Equal("application/json", first["content-type"]);
        Assert.NotNull(first["receipt"]);
    }

    [Fact]
    public async Task SendAsync_ConnectionLostBeforeTheReceipt_IsAFailureOfTheBroker()
    {
        await using var peer = new ScriptedStompPeer();
        await using var transport = Transport(peer.Uri);

        var error = await Assert.ThrowsAsync<IOException>(() => transport.SendAsync(Message("drop.connection"), Ct));
        Assert.IsNotAssignableFrom<MessageRejectedException>(error);
        Assert.Contains("ended before its receipt", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SendAsync_NothingListens_FailsFastUntilTheReconnectIntervalHasPassed()
    {
        int port;
        using (var listener = new TcpListener(IPAddress.Loopback, 0))
        {
            listener.Start();
            port = ((IPEndPoint)listener.LocalEndpoint).Port;
        }

        await using var transport = Transport(new Uri($"stomp://127.0.0.1:{port}"));
        await Assert.ThrowsAnyAsync<SocketException>(() => transport.SendAsync(Message(), Ct));
        var second = await Assert.ThrowsAsync<IOException>(() => transport.SendAsync(Message(), Ct));
        Assert.Contains("unreachable", second.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SendAsync_PayloadOverMaxMessageSize_IsPermanent()
    {
        await using var transport = Transport(new Uri("stomp://127.0.0.1:1"), o => o.MaxMessageSize = 64);
        var error = await Assert.ThrowsAsync<PermanentDeliveryException>(() => transport.SendAsync(Message(payload: 65), Ct));
        Assert.Contains("MaxMessageSize (64)", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("destination")]
    [InlineData("JMSXGroupSeq")]
    [InlineData("activemq.prefetchSize")]
    public async Task SendAsync_UserHeaderReservedByStompOrActiveMq_IsPermanent(string header)
    {
        await using var transport = Transport(new Uri("stomp://127.0.0.1:1"));
        var error = await Assert.ThrowsAsync<PermanentDeliveryException>(() => transport.SendAsync(Message(headers: new Dictionary<string, string> { [header] = "x" }), Ct));
        Assert.Contains(header, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SendAsync_DestinationThatIsNotOne_IsPermanent()
    {
        await using var transport = Transport(new Uri("stomp://127.0.0.1:1"), o => o.DestinationFor = _ => "/queue/");
        await Assert.ThrowsAsync<PermanentDeliveryException>(() => transport.SendAsync(Message(), Ct));
    }

    [Theory]
    [InlineData("Outbox:ActiveMQ:Uri", "amqp://localhost", "Outbox:ActiveMQ:Uri must be an absolute stomp://")]
    [InlineData("Outbox:ActiveMQ:ReceiptTimeout", "00:00:00", "ReceiptTimeout")]
    [InlineData("Outbox:ActiveMQ:Consumers:payments:PrefetchSize", "0", "PrefetchSize")]
    public void Options_InvalidValue_FailValidationNamingTheKey(string key, string value, string expected)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration[key] = value;
        builder.Services.AddOutbox().UseActiveMq();
        builder.Services.AddOutboxConsumer<Microsoft.EntityFrameworkCore.DbContext>("payments").UseActiveMq("payments");
        using var host = builder.Build();
        var error = Assert.Throws<OptionsValidationException>(() =>
        {
            _ = host.Services.GetRequiredService<IOptions<ActiveMqOptions>>().Value;
            _ = host.Services.GetRequiredService<IOptionsMonitor<ActiveMqConsumerOptions>>().Get("payments");
        });
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Options_Defaults_AreValid()
    {
        var services = new ServiceCollection();
        services.AddSingleton<Microsoft.Extensions.Configuration.IConfiguration>(new Microsoft.Extensions.Configuration.ConfigurationBuilder().Build());
        services.AddOutbox().UseActiveMq();
        services.AddOutboxConsumer<Microsoft.EntityFrameworkCore.DbContext>("payments").UseActiveMq("payments");
        using var provider = services.BuildServiceProvider();
        Assert.Equal(new Uri("stomp://localhost:61613"), provider.GetRequiredService<IOptions<ActiveMqOptions>>().Value.Uri);
        Assert.Equal("payments", provider.GetRequiredService<IOptionsMonitor<ActiveMqConsumerOptions>>().Get("payments").Destination);
    }

    /// <summary>
    /// A STOMP 1.2 peer on loopback that answers CONNECT, and each SEND by its destination: <c>refuse</c> gets an ERROR
    /// naming the receipt, <c>drop</c> gets the connection closed, anything else a RECEIPT.
    /// </summary>
    private sealed class ScriptedStompPeer : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _serving;

        public ScriptedStompPeer()
        {
            _listener.Start();
            Uri = new Uri($"stomp://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}");
            _serving = Task.Run(ServeAsync);
        }

        public Uri Uri { get; }

        public System.Collections.Concurrent.ConcurrentQueue<StompFrame> Sends { get; } = new();

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Stop();
            await _serving;
            _stop.Dispose();
        }

        private async Task ServeAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                TcpClient client;
                try
                {
                    client = await _listener.AcceptTcpClientAsync(_stop.Token);
                }
                catch (Exception)
                {
                    return;
                }

                _ = Task.Run(() => ServeClientAsync(client));
            }
        }

        private async Task ServeClientAsync(TcpClient client)
        {
            using (client)
            {
                var stream = client.GetStream();
                var parser = new StompFrameParser(1024 * 1024);
                try
                {
                    while (true)
                    {
                        var read = await stream.ReadAsync(parser.GetMemory(), _stop.Token);
                        if (read == 0)
                        {
                            return;
                        }

                        parser.Advance(read);
                        while (parser.TryRead(out var frame))
                        {
                            var receipt = frame!["receipt"];
                            byte[] answer;
                            if (frame.Command == StompCommands.Connect)
                            {
                                answer = StompFrameWriter.Write(StompCommands.Connected, [new("version", "1.2"), new("heart-beat", "0,0"), new("server", "scripted/1")]);
                            }
                            else if (frame.Command == StompCommands.Send && frame["destination"]!.Contains("drop", StringComparison.Ordinal))
                            {
                                Sends.Enqueue(frame);
                                return;
                            }
                            else if (frame.Command == StompCommands.Send && frame["destination"]!.Contains("refuse", StringComparison.Ordinal))
                            {
                                Sends.Enqueue(frame);
                                answer = StompFrameWriter.Write(StompCommands.Error, [new("receipt-id", receipt!), new("message", $"User is not authorized to write to {frame["destination"]}")]);
                            }
                            else
                            {
                                if (frame.Command == StompCommands.Send)
                                {
                                    Sends.Enqueue(frame);
                                }

                                answer = receipt is null ? [] : StompFrameWriter.Write(StompCommands.Receipt, [new("receipt-id", receipt)]);
                            }

                            await stream.WriteAsync(answer, _stop.Token);
                        }
                    }
                }
                catch (Exception)
                {
                    // The client went away, or the test ended.
                }
            }
        }
    }
}
