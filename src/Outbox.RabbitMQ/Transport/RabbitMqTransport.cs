using System.Collections.Concurrent;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace Outbox.RabbitMQ;

/// <summary>
/// Publishes outbox messages to RabbitMQ: persistent, with publisher confirms tracked by the client, on a small pool of
/// channels shared by concurrent sends (a dispatcher batch is published concurrently and its confirms are awaited
/// together), with the <c>mandatory</c> flag so an unroutable message fails instead of vanishing.
/// </summary>
/// <remarks>
/// A send returns once the broker confirmed the message (it is then on disk for a durable queue). Any other end is a
/// failure the dispatcher retries: a nack, a return, a connection lost before the confirm (the message may or may not
/// have arrived, so a retry may duplicate it; the consumer's inbox absorbs that). The connection is opened lazily and
/// again after it is lost, at most once per <see cref="RabbitMqOptions.ReconnectInterval"/>; sends during an outage fail
/// fast. A channel whose confirm did not come in time, or that failed in an unexpected way, is retired and replaced.
/// </remarks>
internal sealed class RabbitMqTransport : IMessageTransport, IAsyncDisposable
{
    private readonly RabbitMqOptions _options;
    private readonly RabbitMqConnectionFactory _factory;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly IChannel?[] _channels;
    private readonly ConcurrentDictionary<string, bool> _knownExchanges = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _partitionsByExchange;
    private IConnection? _connection;
    private long _next;
    private long _lastFailureTicks = long.MinValue;
    private Exception? _lastFailure;
    private bool _disposed;

    public RabbitMqTransport(IOptions<RabbitMqOptions> options, RabbitMqConnectionFactory factory, TimeProvider timeProvider, ILogger<RabbitMqTransport> logger)
    {
        _options = options.Value;
        _factory = factory;
        _time = timeProvider;
        _logger = logger;
        _channels = new IChannel?[_options.PublishChannels];
        _partitionsByExchange = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var partitioned in _options.PartitionedQueues)
        {
            _partitionsByExchange.TryAdd(partitioned.ExchangeName, partitioned.Partitions);
        }
    }

    public async Task SendAsync(OutboxMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (message.Payload.Length > _options.MaxMessageSize)
        {
            throw new PermanentDeliveryException(
                $"The payload has {message.Payload.Length} bytes, more than {nameof(RabbitMqOptions)}.{nameof(RabbitMqOptions.MaxMessageSize)} ({_options.MaxMessageSize}).");
        }

        var exchange = _options.ExchangeFor(message) ?? "";
        // The exchange of a partitioned queue routes by partition number (its partitions' binding keys).
        var routingKey = _partitionsByExchange.TryGetValue(exchange, out var partitions)
            ? RabbitMqTopology.RoutingKeyOf(RabbitMqPartitioning.PartitionFor(message.PartitionKey, message.MessageId, partitions))
            : _options.RoutingKeyFor(message) ?? "";
        if (Encoding.UTF8.GetByteCount(exchange) > 255 || Encoding.UTF8.GetByteCount(routingKey) > 255)
        {
            throw new PermanentDeliveryException(
                $"The exchange '{Shorten(exchange)}' or routing key '{Shorten(routingKey)}' is longer than RabbitMQ's 255 bytes.");
        }

        var slot = (int)((ulong)Interlocked.Increment(ref _next) % (ulong)_channels.Length);
        var channel = await GetChannelAsync(slot, exchange, cancellationToken).ConfigureAwait(false);
        var properties = RabbitMqMessageMapper.ToProperties(message);

        // The client is given no cancellation token: cancelling inside its confirm tracking has broken channels in the
        // past. We stop waiting instead, and retire the channel, which fails whatever it still had pending.
        Task publish;
        try
        {
            publish = channel.BasicPublishAsync(exchange, routingKey, _options.Mandatory, properties, message.Payload, CancellationToken.None).AsTask();
        }
        catch (Exception ex) when (ex is not PublishException)
        {
            Retire(slot, channel, ex);
            throw;
        }

        try
        {
            await publish.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (PublishException ex) when (ex.IsReturn)
        {
            // The broker is fine and answered for this message alone: a failure of the message, not of the endpoint.
            var reply = ex is PublishReturnException returned ? $" ({returned.ReplyCode} {returned.ReplyText})" : "";
            throw new RabbitMqUnroutableException(
                $"No queue is bound for routing key '{routingKey}' on exchange '{exchange}': the broker returned the message{reply}.", ex);
        }
        catch (PublishException ex)
        {
            throw new IOException($"The broker nacked the message (exchange '{exchange}', routing key '{routingKey}').", ex);
        }
        catch (Exception ex)
        {
            _ = publish.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            Retire(slot, channel, ex);
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
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            for (var i = 0; i < _channels.Length; i++)
            {
                if (Interlocked.Exchange(ref _channels[i], null) is { } channel)
                {
                    await CloseQuietlyAsync(channel).ConfigureAwait(false);
                }
            }

            if (_connection is { } connection)
            {
                _connection = null;
                await CloseQuietlyAsync(connection).ConfigureAwait(false);
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    private async ValueTask<IChannel> GetChannelAsync(int slot, string exchange, CancellationToken cancellationToken)
    {
        var channel = Volatile.Read(ref _channels[slot]);
        if (channel is { IsOpen: true } && _knownExchanges.ContainsKey(exchange))
        {
            return channel;
        }

        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var connection = await GetConnectionAsync(cancellationToken).ConfigureAwait(false);
            channel = _channels[slot];
            if (channel is not { IsOpen: true })
            {
                if (channel is not null)
                {
                    _ = CloseQuietlyAsync(channel);
                }

                channel = await connection.CreateChannelAsync(
                    new CreateChannelOptions(
                        publisherConfirmationsEnabled: true,
                        publisherConfirmationTrackingEnabled: true,
                        outstandingPublisherConfirmationsRateLimiter: null), // the dispatcher's batch size bounds it
                    cancellationToken).ConfigureAwait(false);
                Volatile.Write(ref _channels[slot], channel);
            }

            if (!_knownExchanges.ContainsKey(exchange))
            {
                await VerifyExchangeAsync(connection, exchange, cancellationToken).ConfigureAwait(false);
            }

            return channel;
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task<IConnection> GetConnectionAsync(CancellationToken cancellationToken)
    {
        if (_connection is { IsOpen: true } open)
        {
            return open;
        }

        if (_connection is { } lost)
        {
            RabbitMqLog.PublisherConnectionLost(_logger, lost.CloseReason?.ReplyText ?? "closed");
            _connection = null;
            for (var i = 0; i < _channels.Length; i++)
            {
                Volatile.Write(ref _channels[i], null);
            }

            _knownExchanges.Clear();
            _ = CloseQuietlyAsync(lost);
        }

        var sinceFailure = _time.GetElapsedTime(Interlocked.Read(ref _lastFailureTicks));
        if (_lastFailure is not null && sinceFailure < _options.ReconnectInterval)
        {
            throw new IOException(
                $"The RabbitMQ broker at {_factory.Endpoint} is unreachable (the last attempt, {sinceFailure.TotalMilliseconds:0} ms ago, failed: {_lastFailure.Message}).",
                _lastFailure);
        }

        IConnection? connection = null;
        try
        {
            connection = await _factory.CreateConnectionAsync("publisher", cancellationToken).ConfigureAwait(false);
            await RabbitMqTopology.DeclareAsync(connection, _options, cancellationToken).ConfigureAwait(false);
            foreach (var exchange in RabbitMqTopology.DeclaredExchanges(_options))
            {
                _knownExchanges[exchange] = true;
            }

            _knownExchanges[""] = true;
            _lastFailure = null;
            _connection = connection;
            RabbitMqLog.Connected(_logger, connection.ClientProvidedName ?? "publisher", _factory.Endpoint);
            return connection;
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            if (connection is not null)
            {
                _ = CloseQuietlyAsync(connection);
            }

            _lastFailure = ex;
            Interlocked.Exchange(ref _lastFailureTicks, _time.GetTimestamp());
            RabbitMqLog.ConnectFailed(_logger, ex, "publisher", _factory.Endpoint, _options.ReconnectInterval);
            throw;
        }
    }

    /// <summary>
    /// Publishing to a missing exchange would close the shared channel (404) and fail every send on it: check once, on a
    /// channel of its own, and remember exchanges that exist.
    /// </summary>
    private async Task VerifyExchangeAsync(IConnection connection, string exchange, CancellationToken cancellationToken)
    {
        var probe = await connection.CreateChannelAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        await using (probe.ConfigureAwait(false))
        {
            try
            {
                await probe.ExchangeDeclarePassiveAsync(exchange, cancellationToken).ConfigureAwait(false);
                await probe.CloseAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationInterruptedException ex) when (ex.ShutdownReason?.ReplyCode == Constants.NotFound)
            {
                throw new RabbitMqUnroutableException($"The exchange '{exchange}' does not exist on the broker: declare it in {nameof(RabbitMqOptions)}.{nameof(RabbitMqOptions.Exchanges)}.", ex);
            }
        }

        _knownExchanges[exchange] = true;
    }

    private void Retire(int slot, IChannel channel, Exception error)
    {
        if (Interlocked.CompareExchange(ref _channels[slot], null, channel) == channel)
        {
            RabbitMqLog.ChannelRetired(_logger, slot, error.GetType().Name);
            _ = CloseQuietlyAsync(channel);
        }
    }

    private static async Task CloseQuietlyAsync(IChannel channel)
    {
        try
        {
            await channel.CloseAsync().ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Already closed, or the connection is gone: nothing left to release but the object.
        }

        try
        {
            await channel.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception)
        {
            // As above.
        }
    }

    /// <summary>Closes and disposes a connection, ignoring that it may be gone already. Shared with the consumer.</summary>
    internal static async Task CloseQuietlyAsync(IConnection connection)
    {
        try
        {
            await connection.CloseAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Already closed.
        }

        try
        {
            await connection.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception)
        {
            // As above.
        }
    }

    private static string Shorten(string value) => value.Length <= 40 ? value : string.Concat(value.AsSpan(0, 40), "…");
}
