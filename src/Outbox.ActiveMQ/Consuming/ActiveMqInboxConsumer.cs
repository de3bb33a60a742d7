using System.Globalization;
using System.Threading.Channels;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Outbox.ActiveMQ.Stomp;

namespace Outbox.ActiveMQ;

/// <summary>
/// Subscribes one destination for one consumer with <c>ack:client-individual</c> and feeds each MESSAGE to the inbox
/// (<see cref="IInboxReceiver"/>): acknowledged (ACK) once the inbox has an outcome (processed, duplicate,
/// dead-lettered). Deliveries are spread over lanes by partition key; what waits in a lane is handed to the inbox
/// together, in order. One "session" is a connection and its subscription; when it ends (broker restart, network, a
/// missed heart-beat, an ERROR) or the inbox cannot record an outcome, the session is torn down and a new one started
/// after a pause: the broker redelivers every unacknowledged message, flagged <c>redelivered</c>, and the inbox skips
/// those it already processed.
/// </summary>
internal sealed class ActiveMqInboxConsumer : BackgroundService
{
    private const string SubscriptionId = "0";
    private readonly string _consumer;
    private readonly ActiveMqConnectionFactory _factory;
    private readonly ActiveMqOptions _options;
    private readonly IOptionsMonitor<ActiveMqConsumerOptions> _consumerOptions;
    private readonly IInboxReceiver _receiver;
    private readonly IOptionsMonitor<InboxConsumerOptions> _inboxOptions;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private int _inFlight;
    private int _lostSettlements;
    private TaskCompletionSource _drained = NewDrained();

    public ActiveMqInboxConsumer(
        string consumer,
        ActiveMqConnectionFactory factory,
        IOptions<ActiveMqOptions> options,
        IOptionsMonitor<ActiveMqConsumerOptions> consumerOptions,
        IInboxReceiver receiver,
        IOptionsMonitor<InboxConsumerOptions> inboxOptions,
        TimeProvider timeProvider,
        ILogger<ActiveMqInboxConsumer> logger)
    {
        _consumer = consumer;
        _factory = factory;
        _options = options.Value;
        _consumerOptions = consumerOptions;
        _receiver = receiver;
        _inboxOptions = inboxOptions;
        _time = timeProvider;
        _logger = logger;
    }

    /// <summary>The consumer name.</summary>
    public string Consumer => _consumer;

    /// <summary>The connection of the current session once subscribed, or null between sessions. For tests.</summary>
    internal StompConnection? CurrentConnection { get; private set; }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        ConsumerSessionLoop.RunAsync(
            RunSessionAsync,
            reason => ActiveMqLog.ConsumerSessionEnded(_logger, _consumer, reason, Interlocked.Exchange(ref _lostSettlements, 0)),
            (ex, pause) => ActiveMqLog.ConsumerFailed(_logger, ex, _consumer, pause),
            _options.ReconnectInterval,
            _time,
            stoppingToken);

    /// <summary>Runs one session until it ends (returns why) or the host stops.</summary>
    private async Task<string> RunSessionAsync(CancellationToken stoppingToken)
    {
        var settings = _consumerOptions.Get(_consumer);
        var destination = ActiveMqDestinations.Normalize(settings.Destination);
        var batchSize = Math.Max(1, _inboxOptions.Get(_consumer).MaxBatchSize);
        using var processing = new CancellationTokenSource();
        var session = new Session(processing);
        var lanes = StartLanes(session, settings.ConcurrentMessages, batchSize);
        StompConnection? connection = null;
        try
        {
            connection = await _factory.OpenAsync(frame => OnMessage(frame, session, lanes), stoppingToken).ConfigureAwait(false);
            session.Connection = connection;
            _ = connection.Closed.ContinueWith(t => session.End($"connection closed: {t.Result}"), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            await connection.RequestAsync(
                StompCommands.Subscribe,
                [
                    new("id", SubscriptionId),
                    new("destination", destination),
                    new("ack", "client-individual"),
                    new("activemq.prefetchSize", settings.PrefetchSize.ToString(CultureInfo.InvariantCulture)),
                ],
                default,
                _options.ReceiptTimeout,
                stoppingToken).ConfigureAwait(false);
            CurrentConnection = connection;
            ActiveMqLog.Connected(_logger, _consumer, _factory.Endpoint, connection.Server);
            ActiveMqLog.ConsumerStarted(_logger, _consumer, destination, settings.PrefetchSize, settings.ConcurrentMessages);
            try
            {
                return await session.Ended.WaitAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                // Take no more deliveries (what is prefetched stays unacknowledged and comes back to the next
                // subscriber), let what is in flight finish and be acknowledged, then DISCONNECT.
                session.Stopping = true;
                return "stopping";
            }
        }
        finally
        {
            CurrentConnection = null;
            session.Stopping = true;
            await DrainAsync(settings.ShutdownTimeout, processing).ConfigureAwait(false);
            lanes.Complete();
            await lanes.Workers.ConfigureAwait(false);
            if (connection is not null)
            {
                // DISCONNECT with a receipt: the broker has processed every ACK sent before it.
                await connection.CloseAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
            }
        }
    }

    private void OnMessage(StompFrame frame, Session session, Lanes lanes)
    {
        if (session.Stopping || session.Processing.IsCancellationRequested || frame["subscription"] != SubscriptionId || frame["ack"] is not { } ack)
        {
            return; // left unacknowledged: the broker redelivers it once this connection is gone
        }

        var message = ActiveMqMessageMapper.ToIncoming(frame, _time.GetUtcNow());
        Interlocked.Increment(ref _inFlight);

        // Same key, same lane: its messages are processed one after another, in delivery order.
        var lane = message.PartitionKey is { } key
            ? (int)((uint)StringComparer.Ordinal.GetHashCode(key) % (uint)lanes.Writers.Length)
            : (int)(Interlocked.Increment(ref lanes.RoundRobin) % lanes.Writers.Length);
        if (!lanes.Writers[lane].TryWrite(new Delivery(message, ack)))
        {
            Settled();
        }
    }

    private Lanes StartLanes(Session session, int count, int batchSize)
    {
        var queues = Enumerable.Range(0, count)
            .Select(_ => Channel.CreateUnbounded<Delivery>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true }))
            .ToArray();
        var workers = queues.Select(queue => Task.Run(async () =>
        {
            // Bounded by the prefetch size: the broker sends no more than that many unacknowledged messages. What has
            // queued up in the lane meanwhile is taken as one batch (up to the inbox's MaxBatchSize).
            var batch = new List<Delivery>(batchSize);
            while (await queue.Reader.WaitToReadAsync(CancellationToken.None).ConfigureAwait(false))
            {
                while (batch.Count < batchSize && queue.Reader.TryRead(out var item))
                {
                    batch.Add(item);
                }

                if (batch.Count == 0)
                {
                    continue;
                }

                if (session.Processing.IsCancellationRequested || session.Connection is not { IsOpen: true } connection)
                {
                    foreach (var _ in batch)
                    {
                        Settled(); // left unacknowledged: redelivered once the connection is gone
                    }
                }
                else
                {
                    await HandleAsync(session, connection, batch.ToArray()).ConfigureAwait(false);
                }

                batch.Clear();
            }
        }, CancellationToken.None)).ToArray();
        session.Processing.Token.Register(() =>
        {
            foreach (var queue in queues)
            {
                queue.Writer.TryComplete();
            }
        });
        return new Lanes(queues, Task.WhenAll(workers));
    }

    /// <summary>
    /// Runs deliveries that waited in one lane, in order, through the inbox and acknowledges each one the inbox has an
    /// outcome for.
    /// </summary>
    private async Task HandleAsync(Session session, StompConnection connection, IReadOnlyList<Delivery> deliveries)
    {
        try
        {
            IReadOnlyList<ReceiveDisposition> dispositions;
            try
            {
                dispositions = await _receiver.ReceiveBatchAsync(_consumer, deliveries.Select(d => d.Message).ToArray(), session.Processing.Token).ConfigureAwait(false);
                if (dispositions.Count != deliveries.Count)
                {
                    throw new InvalidOperationException(
                        $"The inbox receiver returned {dispositions.Count} disposition(s) for {deliveries.Count} message(s).");
                }
            }
            catch (OperationCanceledException) when (session.Processing.IsCancellationRequested)
            {
                return; // left unacknowledged: redelivered once the connection is gone
            }
            catch (Exception ex)
            {
                ActiveMqLog.ReceiveFailed(_logger, ex, _consumer, deliveries[0].Message.MessageId);
                dispositions = [.. deliveries.Select(_ => ReceiveDisposition.Requeue)];
            }

            for (var i = 0; i < deliveries.Count; i++)
            {
                if (dispositions[i] == ReceiveDisposition.Reject)
                {
                    // Refused for good (the consumer's dead letters are full): a NACK makes ActiveMQ treat it as poison
                    // and move it to its dead-letter queue (ActiveMQ.DLQ by default), so it never comes back here.
                    ActiveMqLog.Refused(_logger, _consumer, deliveries[i].Message.MessageId);
                    if (!connection.Post(StompCommands.Nack, [new("id", deliveries[i].Ack)]))
                    {
                        Interlocked.Add(ref _lostSettlements, deliveries.Count - i);
                        break;
                    }

                    continue;
                }

                if (dispositions[i] != ReceiveDisposition.Acknowledge)
                {
                    // The inbox could not record an outcome (its database is down). A NACK would not put the message back
                    // before the later ones of its key this session already holds. Instead end the session: the broker
                    // redelivers every unacknowledged message in order, and the next session starts from them.
                    session.End("the inbox could not record an outcome: every unacknowledged message goes back to the broker");
                    break;
                }

                if (!connection.Post(StompCommands.Ack, [new("id", deliveries[i].Ack)]))
                {
                    // The connection went away after the inbox committed: the broker redelivers, the inbox skips.
                    Interlocked.Add(ref _lostSettlements, deliveries.Count - i);
                    break;
                }
            }
        }
        finally
        {
            foreach (var _ in deliveries)
            {
                Settled();
            }
        }
    }

    private void Settled()
    {
        if (Interlocked.Decrement(ref _inFlight) == 0)
        {
            Volatile.Read(ref _drained).TrySetResult();
        }
    }

    /// <summary>Waits up to <paramref name="timeout"/> for in-flight deliveries, then cancels the rest.</summary>
    private async Task DrainAsync(TimeSpan timeout, CancellationTokenSource processing)
    {
        var drained = NewDrained();
        Volatile.Write(ref _drained, drained);
        if (Volatile.Read(ref _inFlight) > 0)
        {
            try
            {
                await drained.Task.WaitAsync(timeout, _time).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                var left = Volatile.Read(ref _inFlight);
                ActiveMqLog.ConsumerStopped(_logger, _consumer, left);
            }
        }

        await processing.CancelAsync().ConfigureAwait(false);
    }

    private static TaskCompletionSource NewDrained() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private readonly record struct Delivery(IncomingMessage Message, string Ack);

    /// <summary>One session's connection, end signal and processing token.</summary>
    private sealed class Session(CancellationTokenSource processing)
    {
        private readonly TaskCompletionSource<string> _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public CancellationTokenSource Processing { get; } = processing;

        public StompConnection? Connection { get; set; }

        public volatile bool Stopping;

        public Task<string> Ended => _ended.Task;

        public void End(string reason)
        {
            if (_ended.TrySetResult(reason))
            {
                try
                {
                    Processing.Cancel(); // in-flight and queued deliveries stay unacknowledged
                }
                catch (ObjectDisposedException)
                {
                    // The session is already over.
                }

                Connection?.Abort(reason);
            }
        }
    }

    private sealed class Lanes(Channel<Delivery>[] queues, Task workers)
    {
        public ChannelWriter<Delivery>[] Writers { get; } = queues.Select(q => q.Writer).ToArray();

        public Task Workers { get; } = workers;

        public long RoundRobin;

        public void Complete()
        {
            foreach (var writer in Writers)
            {
                writer.TryComplete();
            }
        }
    }
}
