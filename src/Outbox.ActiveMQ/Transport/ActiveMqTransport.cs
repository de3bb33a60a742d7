using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Outbox.ActiveMQ.Stomp;

namespace Outbox.ActiveMQ;

/// <summary>
/// Sends outbox messages to ActiveMQ over STOMP 1.2: persistent, each SEND with a <c>receipt</c> header, and a send
/// returns only once the broker's RECEIPT came (for a persistent message ActiveMQ sends it once the message is stored).
/// Concurrent sends (a dispatcher batch) are pipelined on a small pool of connections: their frames are written
/// together and their receipts awaited together.
/// </summary>
/// <remarks>
/// Failures are classified where they happen: an ERROR frame that answers one send (its <c>receipt-id</c>) is that
/// message's failure (<see cref="ActiveMqRejectedException"/>); a payload over <see cref="ActiveMqOptions.MaxMessageSize"/>,
/// a destination that is not one, or a reserved header name is a <see cref="PermanentDeliveryException"/>; anything else
/// (refused connection, lost connection before the receipt, a receipt that does not come in time, an ERROR that answers
/// no send) is the broker's, retried by the dispatcher and counted by its circuit breaker. A connection is opened lazily
/// and again after it is lost, at most once per <see cref="ActiveMqOptions.ReconnectInterval"/>; sends during an outage
/// fail fast. A message whose receipt was lost may have arrived: a retry may duplicate it, the consumer's inbox absorbs that.
/// </remarks>
internal sealed class ActiveMqTransport : IMessageTransport, IAsyncDisposable
{
    private readonly ActiveMqOptions _options;
    private readonly ActiveMqConnectionFactory _factory;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Slot[] _slots;
    private long _next;
    private bool _disposed;

    // The last failed connection attempt, of any slot: during an outage every send fails fast until ReconnectInterval passed.
    private Exception? _lastFailure;
    private long _lastFailureTicks;

    public ActiveMqTransport(IOptions<ActiveMqOptions> options, ActiveMqConnectionFactory factory, TimeProvider timeProvider, ILogger<ActiveMqTransport> logger)
    {
        _options = options.Value;
        _factory = factory;
        _time = timeProvider;
        _logger = logger;
        _slots = Enumerable.Range(0, _options.PublishConnections).Select(_ => new Slot()).ToArray();
    }

    public async Task SendAsync(OutboxMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (message.Payload.Length > _options.MaxMessageSize)
        {
            throw new PermanentDeliveryException(
                $"The payload has {message.Payload.Length} bytes, more than {nameof(ActiveMqOptions)}.{nameof(ActiveMqOptions.MaxMessageSize)} ({_options.MaxMessageSize}).");
        }

        var destination = _options.DestinationFor(message) ?? "";
        if (!IsDestination(destination))
        {
            throw new PermanentDeliveryException(
                $"'{Shorten(destination)}' is not a STOMP destination: it must be /queue/name or /topic/name.");
        }

        var headers = ActiveMqMessageMapper.ToSendHeaders(message, destination);
        var index = (int)((ulong)Interlocked.Increment(ref _next) % (ulong)_slots.Length);
        var connection = await GetConnectionAsync(index, cancellationToken).ConfigureAwait(false);
        try
        {
            await connection.RequestAsync(StompCommands.Send, headers, message.Payload, _options.ReceiptTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (StompErrorException ex)
        {
            // The broker is up and answered for this message alone: a failure of the message, not of the endpoint.
            throw new ActiveMqRejectedException($"The broker refused the message for '{destination}': {ex.Message}", ex);
        }
        catch (TimeoutException ex)
        {
            // A connection that does not answer is replaced; what it still had pending fails and is retried.
            Retire(index, connection, ex);
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        foreach (var slot in _slots)
        {
            await slot.Gate.WaitAsync().ConfigureAwait(false);
            try
            {
                if (Interlocked.Exchange(ref slot.Connection, null) is { } connection)
                {
                    await connection.DisposeAsync().ConfigureAwait(false);
                }
            }
            finally
            {
                slot.Gate.Release();
            }
        }
    }

    internal static bool IsDestination(string destination) =>
        (destination.StartsWith(ActiveMqDestinations.QueuePrefix, StringComparison.Ordinal) && destination.Length > ActiveMqDestinations.QueuePrefix.Length)
        || (destination.StartsWith(ActiveMqDestinations.TopicPrefix, StringComparison.Ordinal) && destination.Length > ActiveMqDestinations.TopicPrefix.Length);

    private async ValueTask<StompConnection> GetConnectionAsync(int index, CancellationToken cancellationToken)
    {
        var slot = _slots[index];
        if (Volatile.Read(ref slot.Connection) is { IsOpen: true } open)
        {
            return open;
        }

        await slot.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (slot.Connection is { IsOpen: true } opened)
            {
                return opened;
            }

            if (Interlocked.Exchange(ref slot.Connection, null) is { } lost)
            {
                ActiveMqLog.PublisherConnectionLost(_logger, index, lost.Closed.IsCompleted ? lost.Closed.Result : "closed");
                _ = lost.DisposeAsync().AsTask();
            }

            var sinceFailure = _time.GetElapsedTime(Interlocked.Read(ref _lastFailureTicks));
            if (Volatile.Read(ref _lastFailure) is { } lastFailure && sinceFailure < _options.ReconnectInterval)
            {
                throw new IOException(
                    $"The ActiveMQ broker at {_factory.Endpoint} is unreachable (the last attempt, {sinceFailure.TotalMilliseconds:0} ms ago, failed: {lastFailure.Message}).",
                    lastFailure);
            }

            try
            {
                var connection = await _factory.OpenAsync(onMessage: null, cancellationToken).ConfigureAwait(false);
                Volatile.Write(ref _lastFailure, null);
                Volatile.Write(ref slot.Connection, connection);
                var endpoint = _factory.Endpoint;
                ActiveMqLog.Connected(_logger, "publisher", endpoint, connection.Server);
                return connection;
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                Interlocked.Exchange(ref _lastFailureTicks, _time.GetTimestamp());
                Volatile.Write(ref _lastFailure, ex);
                var endpoint = _factory.Endpoint;
                ActiveMqLog.ConnectFailed(_logger, ex, "publisher", endpoint, _options.ReconnectInterval);
                throw;
            }
        }
        finally
        {
            slot.Gate.Release();
        }
    }

    private void Retire(int index, StompConnection connection, Exception error)
    {
        if (Interlocked.CompareExchange(ref _slots[index].Connection, null, connection) == connection)
        {
            var kind = error.GetType().Name;
            ActiveMqLog.ConnectionRetired(_logger, index, kind);
            connection.Abort($"retired after {error.GetType().Name}");
        }
    }

    private static string Shorten(string value) => value.Length <= 60 ? value : string.Concat(value.AsSpan(0, 60), "…");

    private sealed class Slot : IDisposable
    {
        public readonly SemaphoreSlim Gate = new(1, 1);
        public StompConnection? Connection;

        public void Dispose() => Gate.Dispose();
    }
}
