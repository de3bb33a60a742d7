using System.Net;
using System.Net.Sockets;
using Outbox.ActiveMQ.Stomp;

namespace Outbox.ActiveMQ.Tests.Stomp;

/// <summary>Heart-beats of a live <see cref="StompConnection"/>, against a peer that is told what to do.</summary>
public sealed class StompConnectionTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task OpenAsync_HeartBeatsNegotiated_TheClientSendsThemAndASilentBrokerEndsTheConnection()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var heartBeatsFromClient = 0;
        var stillOpenAfterTwoBeats = false;
        StompConnection? connectionRef = null;
        var peer = Task.Run(async () =>
        {
            using var client = await listener.AcceptTcpClientAsync(Ct);
            var stream = client.GetStream();
            var parser = new StompFrameParser(64 * 1024);
            StompFrame? connect;
            while (!parser.TryRead(out connect))
            {
                parser.Advance(await stream.ReadAsync(parser.GetMemory(), Ct));
            }

            Assert.Equal("2000,2000", connect!["heart-beat"]);
            await stream.WriteAsync(StompFrameWriter.Write(StompCommands.Connected, [new("version", "1.2"), new("heart-beat", "2000,2000")]), Ct);

            // First this side beats far more often than asked (the client must stay), until the client has sent two
            // beats of its own; then it falls silent and counts on until the client hangs up.
            using var beating = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            var beats = Task.Run(async () =>
            {
                while (!beating.IsCancellationRequested)
                {
                    await stream.WriteAsync(StompFrameWriter.HeartBeat, CancellationToken.None);
                    await Task.Delay(250, CancellationToken.None);
                }
            }, CancellationToken.None);
            while (true)
            {
                int read;
                try
                {
                    read = await stream.ReadAsync(parser.GetMemory(), Ct);
                }
                catch (IOException)
                {
                    break; // the client hung up with a reset
                }

                if (read == 0)
                {
                    break;
                }

                parser.Advance(read);
                while (parser.TryRead(out _))
                {
                }

                heartBeatsFromClient = (int)parser.HeartBeats;
                if (heartBeatsFromClient >= 2 && !beating.IsCancellationRequested)
                {
                    await beating.CancelAsync();
                    await beats;
                    stillOpenAfterTwoBeats = connectionRef?.IsOpen ?? false;
                }
            }
        }, Ct);

        await using var connection = await StompConnection.OpenAsync(
            new StompConnectionSettings { Host = "127.0.0.1", Port = port, VirtualHost = "localhost", HeartBeat = TimeSpan.FromSeconds(2) },
            TimeProvider.System,
            null,
            Ct);
        connectionRef = connection;
        var reason = await connection.Closed.WaitAsync(TimeSpan.FromSeconds(90), Ct);
        Assert.Contains("no data or heart-beat from the broker", reason, StringComparison.Ordinal);
        await peer.WaitAsync(TimeSpan.FromSeconds(60), Ct);
        Assert.True(heartBeatsFromClient >= 2, "the client sent fewer than two heart-beats");
        Assert.True(stillOpenAfterTwoBeats, "the client hung up while the broker was still beating");
        Assert.False(connection.IsOpen);
    }

    [Fact]
    public async Task RequestAsync_ConnectionEndsWhileWaiting_FailsWithAnIOException()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var peer = Task.Run(async () =>
        {
            using var client = await listener.AcceptTcpClientAsync(Ct);
            var stream = client.GetStream();
            var parser = new StompFrameParser(64 * 1024);
            var frames = 0;
            while (frames < 2)
            {
                parser.Advance(await stream.ReadAsync(parser.GetMemory(), Ct));
                while (parser.TryRead(out var frame))
                {
                    frames++;
                    if (frame!.Command == StompCommands.Connect)
                    {
                        await stream.WriteAsync(StompFrameWriter.Write(StompCommands.Connected, [new("version", "1.2")]), Ct);
                    }
                }
            }
        }, Ct); // after the SEND, it hangs up without a receipt

        await using var connection = await StompConnection.OpenAsync(
            new StompConnectionSettings { Host = "127.0.0.1", Port = port, VirtualHost = "localhost", HeartBeat = TimeSpan.Zero },
            TimeProvider.System,
            null,
            Ct);
        var error = await Assert.ThrowsAsync<IOException>(() => connection.RequestAsync(StompCommands.Send, [new("destination", "/queue/a")], new byte[] { 1 }, TimeSpan.FromSeconds(60), Ct));
        Assert.Contains("ended before its receipt", error.Message, StringComparison.Ordinal);
        await peer;
    }
}
