using System.Collections.Concurrent;
using System.Globalization;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using System.Threading.Channels;

namespace Outbox.ActiveMQ.Stomp;

/// <summary>How to open a <see cref="StompConnection"/>.</summary>
internal sealed record StompConnectionSettings
{
    public required string Host { get; init; }

    public required int Port { get; init; }

    public bool UseTls { get; init; }

    public string? Login { get; init; }

    public string? Passcode { get; init; }

    public required string VirtualHost { get; init; }

    public string? ClientId { get; init; }

    /// <summary>The heart-beat interval both ways; zero for none.</summary>
    public TimeSpan HeartBeat { get; init; } = TimeSpan.FromSeconds(10);

    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    public int MaxFrameSize { get; init; } = 16 * 1024 * 1024;

    public RemoteCertificateValidationCallback? CertificateValidation { get; init; }

    public string Endpoint => $"{(UseTls ? "stomp+ssl" : "stomp")}://{Host}:{Port}";
}

/// <summary>The broker sent an ERROR frame for one request (its <c>receipt-id</c> named it).</summary>
internal sealed class StompErrorException(string message) : Exception(message);

/// <summary>
/// One STOMP 1.2 connection: the CONNECT handshake, a read loop that dispatches frames (RECEIPT and ERROR to the
/// request they answer, MESSAGE to a callback), a write loop that coalesces frames queued by concurrent callers into
/// few writes, and heart-beats both ways. It ends at the first failure (the broker closed it, a protocol error, an
/// ERROR frame that answers no request, a missed heart-beat); <see cref="Closed"/> then says why and every request still
/// waiting for its receipt fails with an <see cref="IOException"/>. It never reconnects: its owners open a new one.
/// </summary>
internal sealed class StompConnection : IAsyncDisposable
{
    private readonly TcpClient _tcp;
    private readonly Stream _stream;
    private readonly StompFrameParser _parser;
    private readonly TimeProvider _time;
    private readonly Channel<byte[]> _outgoing = Channel.CreateUnbounded<byte[]>(new UnboundedChannelOptions { SingleReader = true });
    private readonly ConcurrentDictionary<string, TaskCompletionSource<StompFrame>> _receipts = new(StringComparer.Ordinal);
    private readonly TaskCompletionSource<string> _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stop = new();
    private readonly Action<StompFrame>? _onMessage;
    private ITimer? _heartBeats;
    private Task _reader = Task.CompletedTask;
    private Task _writer = Task.CompletedTask;
    private TimeSpan _sendEvery;
    private TimeSpan _expectEvery;
    private long _lastRead;
    private long _lastWrite;
    private long _nextReceipt;

    private StompConnection(TcpClient tcp, Stream stream, StompConnectionSettings settings, TimeProvider time, Action<StompFrame>? onMessage)
    {
        _tcp = tcp;
        _stream = stream;
        _time = time;
        _onMessage = onMessage;
        _parser = new StompFrameParser(settings.MaxFrameSize);
        Endpoint = settings.Endpoint;
        _lastRead = _lastWrite = time.GetTimestamp();
    }

    public string Endpoint { get; }

    /// <summary>The broker's <c>server</c> header, e.g. <c>ActiveMQ/5.17.2</c>.</summary>
    public string? Server { get; private set; }

    /// <summary>Completes, with the reason, when the connection has ended.</summary>
    public Task<string> Closed => _closed.Task;

    public bool IsOpen => !_closed.Task.IsCompleted;

    /// <summary>How many heart-beats the broker has sent.</summary>
    public long HeartBeatsReceived => _parser.HeartBeats;

    /// <summary>Connects, authenticates (TLS when asked), sends CONNECT and waits for CONNECTED.</summary>
    /// <remarks>The MESSAGE callback, <paramref name="onMessage"/>, is called on the read loop and must not block.</remarks>
    public static async Task<StompConnection> OpenAsync(StompConnectionSettings settings, TimeProvider time, Action<StompFrame>? onMessage, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(settings.ConnectTimeout);
        var tcp = new TcpClient { NoDelay = true };
        StompConnection? connection = null;
        try
        {
            await tcp.ConnectAsync(settings.Host, settings.Port, timeout.Token).ConfigureAwait(false);
            Stream stream = tcp.GetStream();
            if (settings.UseTls)
            {
                var ssl = new SslStream(stream, leaveInnerStreamOpen: false, settings.CertificateValidation);
                await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = settings.Host }, timeout.Token).ConfigureAwait(false);
                stream = ssl;
            }

            connection = new StompConnection(tcp, stream, settings, time, onMessage);
            await connection.HandshakeAsync(settings, timeout.Token).ConfigureAwait(false);
            return connection;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            Dispose(tcp, connection);
            throw new TimeoutException($"Connecting to the STOMP broker at {settings.Endpoint} took longer than {settings.ConnectTimeout.TotalSeconds:0.#} s.");
        }
        catch
        {
            Dispose(tcp, connection);
            throw;
        }

        static void Dispose(TcpClient tcp, StompConnection? connection)
        {
            connection?._stop.Dispose();
            tcp.Dispose();
        }
    }

    /// <summary>
    /// Sends a frame with a <c>receipt</c> header and returns the broker's RECEIPT. Throws
    /// <see cref="StompErrorException"/> when the broker answers with an ERROR frame, <see cref="IOException"/> when
    /// the connection ends first, <see cref="TimeoutException"/> after <paramref name="timeout"/>.
    /// </summary>
    public async Task<StompFrame> RequestAsync(string command, List<KeyValuePair<string, string>> headers, ReadOnlyMemory<byte> body, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var id = Interlocked.Increment(ref _nextReceipt).ToString(CultureInfo.InvariantCulture);
        headers.Add(new("receipt", id));
        var frame = StompFrameWriter.Write(command, headers, body.Span);
        var waiter = new TaskCompletionSource<StompFrame>(TaskCreationOptions.RunContinuationsAsynchronously);
        _receipts[id] = waiter;
        if (!IsOpen || !_outgoing.Writer.TryWrite(frame))
        {
            _receipts.TryRemove(id, out _);
            throw Lost(_closed.Task.IsCompleted ? _closed.Task.Result : "closed");
        }

        if (!IsOpen)
        {
            // Closed between the check and the registration: nobody else will fail the waiter.
            _receipts.TryRemove(id, out _);
            throw Lost(_closed.Task.Result);
        }

        try
        {
            return await waiter.Task.WaitAsync(timeout, _time, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"The STOMP broker at {Endpoint} sent no receipt for a {command} within {timeout.TotalSeconds:0.#} s.");
        }
        finally
        {
            _receipts.TryRemove(id, out _);
        }
    }

    /// <summary>Queues a frame without a receipt (an ACK); false when the connection has ended.</summary>
    public bool Post(string command, IReadOnlyList<KeyValuePair<string, string>> headers) =>
        IsOpen && _outgoing.Writer.TryWrite(StompFrameWriter.Write(command, headers));

    /// <summary>Ends the connection at once (as a failure would), without DISCONNECT.</summary>
    public void Abort(string reason) => Close(reason);

    /// <summary>Sends DISCONNECT, waits up to <paramref name="timeout"/> for its receipt (everything sent before is then processed), and closes.</summary>
    public async Task CloseAsync(TimeSpan timeout)
    {
        if (IsOpen)
        {
            try
            {
                await RequestAsync(StompCommands.Disconnect, [], default, timeout, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or TimeoutException or StompErrorException or ObjectDisposedException)
            {
                // Gone already, or too slow: close anyway.
            }
        }

        Close("closed by the client");
        await Task.WhenAll(_reader, _writer).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await CloseAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
        _stop.Dispose();
    }

    private async Task HandshakeAsync(StompConnectionSettings settings, CancellationToken cancellationToken)
    {
        var beat = (long)settings.HeartBeat.TotalMilliseconds;
        var headers = new List<KeyValuePair<string, string>>
        {
            new("accept-version", "1.2"),
            new("host", settings.VirtualHost),
            new("heart-beat", $"{beat},{beat}"),
        };
        if (settings.Login is not null)
        {
            headers.Add(new("login", settings.Login));
        }

        if (settings.Passcode is not null)
        {
            headers.Add(new("passcode", settings.Passcode));
        }

        if (settings.ClientId is not null)
        {
            headers.Add(new("client-id", settings.ClientId));
        }

        await _stream.WriteAsync(StompFrameWriter.Write(StompCommands.Connect, headers), cancellationToken).ConfigureAwait(false);
        await _stream.FlushAsync(cancellationToken).ConfigureAwait(false);

        StompFrame? frame;
        while (!_parser.TryRead(out frame))
        {
            var read = await _stream.ReadAsync(_parser.GetMemory(), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                throw new IOException($"The STOMP broker at {Endpoint} closed the connection during the handshake.");
            }

            _parser.Advance(read);
        }

        if (frame!.Command == StompCommands.Error)
        {
            throw new IOException($"The STOMP broker at {Endpoint} refused the connection: {Describe(frame)}");
        }

        if (frame.Command != StompCommands.Connected)
        {
            throw new StompProtocolException($"The STOMP broker at {Endpoint} answered CONNECT with {frame.Command}.");
        }

        if (frame["version"] != "1.2")
        {
            throw new StompProtocolException($"The STOMP broker at {Endpoint} speaks version '{frame["version"]}', not 1.2.");
        }

        Server = frame["server"];
        (_sendEvery, _expectEvery) = NegotiateHeartBeats(settings.HeartBeat, frame["heart-beat"]);
        _lastRead = _lastWrite = _time.GetTimestamp();
        _reader = Task.Run(ReadLoopAsync, CancellationToken.None);
        _writer = Task.Run(WriteLoopAsync, CancellationToken.None);
        var shortest = new[] { _sendEvery, _expectEvery }.Where(t => t > TimeSpan.Zero).DefaultIfEmpty(TimeSpan.Zero).Min();
        if (shortest > TimeSpan.Zero)
        {
            var period = TimeSpan.FromTicks(Math.Max(shortest.Ticks / 2, TimeSpan.FromMilliseconds(50).Ticks));
            _heartBeats = _time.CreateTimer(_ => CheckHeartBeats(), null, period, period);
        }
    }

    /// <summary>
    /// STOMP 1.2 heart-beat negotiation: the client sends every max(cx, sy) unless either is 0, and expects the broker
    /// every max(sx, cy) unless either is 0.
    /// </summary>
    internal static (TimeSpan Send, TimeSpan Expect) NegotiateHeartBeats(TimeSpan requested, string? serverHeader)
    {
        var client = (long)requested.TotalMilliseconds;
        long sx = 0, sy = 0;
        if (serverHeader is { } value)
        {
            var parts = value.Split(',');
            if (parts.Length != 2
                || !long.TryParse(parts[0].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out sx)
                || !long.TryParse(parts[1].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out sy))
            {
                throw new StompProtocolException($"The broker's heart-beat header '{value}' is not two numbers.");
            }
        }

        var send = client == 0 || sy == 0 ? 0 : Math.Max(client, sy);
        var expect = sx == 0 || client == 0 ? 0 : Math.Max(sx, client);
        return (TimeSpan.FromMilliseconds(send), TimeSpan.FromMilliseconds(expect));
    }

    private void CheckHeartBeats()
    {
        var now = _time.GetTimestamp();
        if (_sendEvery > TimeSpan.Zero && _time.GetElapsedTime(Interlocked.Read(ref _lastWrite), now) >= _sendEvery)
        {
            Interlocked.Exchange(ref _lastWrite, now); // one heart-beat per interval, even while the write is pending
            _outgoing.Writer.TryWrite(StompFrameWriter.HeartBeat);
        }

        // Generous: a loaded machine delays the broker's beats and our timer alike.
        if (_expectEvery > TimeSpan.Zero && _time.GetElapsedTime(Interlocked.Read(ref _lastRead), now) > _expectEvery * 3)
        {
            Close($"no data or heart-beat from the broker for {(_expectEvery * 3).TotalSeconds:0.#} s");
        }
    }

    private async Task ReadLoopAsync()
    {
        try
        {
            while (true)
            {
                var read = await _stream.ReadAsync(_parser.GetMemory(), _stop.Token).ConfigureAwait(false);
                if (read == 0)
                {
                    Close("the broker closed the connection");
                    return;
                }

                _parser.Advance(read);
                Interlocked.Exchange(ref _lastRead, _time.GetTimestamp());
                while (_parser.TryRead(out var frame))
                {
                    Dispatch(frame!);
                }
            }
        }
        catch (Exception ex)
        {
            Close(ex is OperationCanceledException ? "closed" : $"{ex.GetType().Name}: {ex.Message}");
        }
    }

    private void Dispatch(StompFrame frame)
    {
        switch (frame.Command)
        {
            case StompCommands.Message:
                _onMessage?.Invoke(frame);
                break;
            case StompCommands.Receipt:
                if (frame["receipt-id"] is { } receipt && _receipts.TryRemove(receipt, out var waiter))
                {
                    waiter.TrySetResult(frame);
                }

                break;
            case StompCommands.Error:
                if (frame["receipt-id"] is { } failed && _receipts.TryRemove(failed, out var refused))
                {
                    // The broker answered this request alone; it may close the connection after it, as STOMP allows.
                    refused.TrySetException(new StompErrorException(Describe(frame)));
                }
                else
                {
                    Close($"the broker sent an ERROR: {Describe(frame)}");
                }

                break;
            default:
                throw new StompProtocolException($"The broker sent a {frame.Command} frame, which only clients send.");
        }
    }

    private async Task WriteLoopAsync()
    {
        var buffered = new BufferedStream(_stream, 64 * 1024);
        try
        {
            var reader = _outgoing.Reader;
            while (await reader.WaitToReadAsync(_stop.Token).ConfigureAwait(false))
            {
                while (reader.TryRead(out var bytes))
                {
                    await buffered.WriteAsync(bytes, _stop.Token).ConfigureAwait(false);
                }

                await buffered.FlushAsync(_stop.Token).ConfigureAwait(false);
                Interlocked.Exchange(ref _lastWrite, _time.GetTimestamp());
            }
        }
        catch (Exception ex)
        {
            Close(ex is OperationCanceledException ? "closed" : $"{ex.GetType().Name}: {ex.Message}");
        }
    }

    private void Close(string reason)
    {
        if (!_closed.TrySetResult(reason))
        {
            return;
        }

        _heartBeats?.Dispose();
        _outgoing.Writer.TryComplete();
        try
        {
            _stop.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Disposed already.
        }

        foreach (var id in _receipts.Keys)
        {
            if (_receipts.TryRemove(id, out var waiter))
            {
                waiter.TrySetException(Lost(reason));
            }
        }

        try
        {
            _tcp.Client.Close(0);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Closed already.
        }

        _tcp.Dispose();
    }

    private IOException Lost(string reason) =>
        new($"The connection to the STOMP broker at {Endpoint} ended before its receipt ({reason}); the broker may or may not have the frame.");

    /// <summary>An ERROR frame's <c>message</c> header and the start of its body.</summary>
    internal static string Describe(StompFrame error)
    {
        var message = error["message"] ?? "(no message)";
        if (error.Body.IsEmpty)
        {
            return message;
        }

        var body = Encoding.UTF8.GetString(error.Body.Span[..Math.Min(error.Body.Length, 300)]).Trim();
        var firstLine = body.Split('\n')[0].Trim();
        return firstLine.Length == 0 || message.Contains(firstLine, StringComparison.Ordinal) ? message : $"{message} ({firstLine})";
    }
}
