using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace Outbox.TestInfrastructure;

/// <summary>
/// A loopback TCP proxy in front of a server, so that a test can cut every client connection at once
/// (<see cref="SeverAll"/>) while the server itself stays up: what a network failure or a broker's restart does to a
/// client, without touching a server other tests share. New connections are accepted again right away.
/// </summary>
public sealed class TcpProxy : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly string _targetHost;
    private readonly int _targetPort;
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentDictionary<long, (TcpClient Client, TcpClient Server)> _pairs = new();
    private readonly Task _accepting;
    private long _next;
    private int _severed;

    /// <summary>Starts a proxy on 127.0.0.1 (a free port) forwarding to <paramref name="targetHost"/>:<paramref name="targetPort"/>.</summary>
    public TcpProxy(string targetHost, int targetPort)
    {
        _targetHost = targetHost;
        _targetPort = targetPort;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _accepting = Task.Run(AcceptAsync);
    }

    /// <summary>The loopback port clients connect to.</summary>
    public int Port { get; }

    /// <summary>How many connections <see cref="SeverAll"/> has cut so far.</summary>
    public int Severed => Volatile.Read(ref _severed);

    /// <summary>How many client connections are open through the proxy now.</summary>
    public int OpenConnections => _pairs.Count;

    /// <summary>Cuts every open connection (both sides, with a reset); returns how many there were.</summary>
    public int SeverAll()
    {
        var count = 0;
        foreach (var (id, pair) in _pairs)
        {
            if (_pairs.TryRemove(id, out _))
            {
                Close(pair.Client, reset: true);
                Close(pair.Server, reset: true);
                count++;
            }
        }

        Interlocked.Add(ref _severed, count);
        return count;
    }

    /// <summary>Stops accepting and closes every connection.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        _listener.Stop();
        SeverAll();
        try
        {
            await _accepting;
        }
        catch (Exception)
        {
            // Stopped.
        }

        _stopping.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stopping.Token);
            }
            catch (Exception)
            {
                return; // stopped
            }

            _ = Task.Run(() => ServeAsync(client));
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        var server = new TcpClient { NoDelay = true };
        client.NoDelay = true;
        try
        {
            await server.ConnectAsync(_targetHost, _targetPort, _stopping.Token);
        }
        catch (Exception)
        {
            Close(client, reset: true);
            server.Dispose();
            return;
        }

        var id = Interlocked.Increment(ref _next);
        _pairs[id] = (client, server);
        var up = PumpAsync(client.GetStream(), server.GetStream());
        var down = PumpAsync(server.GetStream(), client.GetStream());
        await Task.WhenAny(up, down);
        if (_pairs.TryRemove(id, out _))
        {
            Close(client, reset: false);
            Close(server, reset: false);
        }
    }

    private async Task PumpAsync(NetworkStream from, NetworkStream to)
    {
        var buffer = new byte[64 * 1024];
        try
        {
            int read;
            while ((read = await from.ReadAsync(buffer, _stopping.Token)) > 0)
            {
                await to.WriteAsync(buffer.AsMemory(0, read), _stopping.Token);
            }
        }
        catch (Exception)
        {
            // Severed, or the other side went away.
        }
    }

    private static void Close(TcpClient client, bool reset)
    {
        try
        {
            if (reset)
            {
                client.Client.LingerState = new LingerOption(true, 0); // RST, as a dropped network would look
            }

            client.Client.Shutdown(SocketShutdown.Both);
        }
        catch (Exception)
        {
            // Already closed.
        }

        client.Dispose();
    }
}
