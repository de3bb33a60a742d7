using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace Outbox.RabbitMQ;

/// <summary>
/// Consumes one queue for one consumer with manual acknowledgements and feeds each delivery to the inbox
/// (<see cref="IInboxReceiver"/>): acknowledged once the inbox has an outcome (processed, duplicate, dead-lettered),
/// requeued when it has none. Deliveries that wait in a lane are handed to the inbox together, which processes them in
/// one transaction when <see cref="InboxConsumerOptions.MaxBatchSize"/> allows. One "session" is a connection, a channel and a consumer; when any of them ends (broker
/// restart, network, channel error, consumer cancelled by the broker) the session is torn down and a new one started
/// after a pause. Unacknowledged deliveries go back to the queue with the old channel and come again, flagged
/// redelivered; the inbox skips those it already processed.
/// </summary>
internal sealed class RabbitMqInboxConsumer : BackgroundService
{
    private readonly string _consumer;
    private readonly RabbitMqConnectionFactory _factory;
    private readonly RabbitMqOptions _options;
    private readonly IOptionsMonitor<RabbitMqConsumerOptions> _consumerOptions;
    private readonly IInboxReceiver _receiver;
    private readonly IOptionsMonitor<InboxConsumerOptions> _inboxOptions;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private Session? _session;
    private int _inFlight;
    private int _lostSettlements;
    private bool _holdBack;
    private TaskCompletionSource _drained = NewDrained();

    public RabbitMqInboxConsumer(
        string consumer,
        RabbitMqConnectionFactory factory,
        IOptions<RabbitMqOptions> options,
        IOptionsMonitor<RabbitMqConsumerOptions> consumerOptions,
        IInboxReceiver receiver,
        IOptionsMonitor<InboxConsumerOptions> inboxOptions,
        TimeProvider timeProvider,
        ILogger<RabbitMqInboxConsumer> logger)
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

    /// <summary>The channel of the current session, or null between sessions. For tests that simulate a crash.</summary>
    internal IChannel? CurrentChannel { get; private set; }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        ConsumerSessionLoop.RunAsync(
            RunSessionAsync,
            reason => RabbitMqLog.ConsumerSessionEnded(_logger, _consumer, reason, Interlocked.Exchange(ref _lostSettlements, 0)),
            (ex, pause) => RabbitMqLog.ConsumerFailed(_logger, ex, _consumer, pause),
            _options.ReconnectInterval,
            _time,
            stoppingToken);

    /// <summary>Runs one session until it ends (returns why) or the host stops.</summary>
    private async Task<string> RunSessionAsync(CancellationToken stoppingToken)
    {
        var settings = _consumerOptions.Get(_consumer);
        Volatile.Write(ref _holdBack, false);
        var connection = await _factory.CreateConnectionAsync($"consumer-{_consumer}", stoppingToken).ConfigureAwait(false);
        using var processing = new CancellationTokenSource();
        Task? laneWorkers = null;
        try
        {
            await RabbitMqTopology.DeclareAsync(connection, _options, stoppingToken).ConfigureAwait(false);
            var ended = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            _session = new Session(ended, processing);
            connection.ConnectionShutdownAsync += (_, e) =>
            {
                ended.TrySetResult($"connection closed: {e.ReplyCode} {e.ReplyText}");
                return Task.CompletedTask;
            };

            // The client hands deliveries over one at a time; with ConcurrentMessages > 1 they are spread over that many
            // lanes by partition key, each lane processing in order, so different keys run in parallel and one key's
            // messages stay in the order the broker delivered them.
            var channel = await connection.CreateChannelAsync(
                new CreateChannelOptions(
                    publisherConfirmationsEnabled: false,
                    publisherConfirmationTrackingEnabled: false,
                    consumerDispatchConcurrency: 1),
                stoppingToken).ConfigureAwait(false);
            channel.ChannelShutdownAsync += (_, e) =>
            {
                ended.TrySetResult($"channel closed: {e.ReplyCode} {e.ReplyText}");
                return Task.CompletedTask;
            };
            await channel.BasicQosAsync(0, (ushort)settings.PrefetchCount, global: false, stoppingToken).ConfigureAwait(false);

            // With one lane and no batching, deliveries are processed in the client's callback; otherwise they are queued
            // to lanes, from which a lane worker takes what has waited as one batch.
            var batchSize = _inboxOptions.Get(_consumer).MaxBatchSize;
            var lanes = settings.ConcurrentMessages > 1 || batchSize > 1
                ? StartLanes(channel, settings.ConcurrentMessages, batchSize, processing.Token)
                : null;
            laneWorkers = lanes?.Workers;
            var consumer = new AsyncEventingBasicConsumer(channel);
            consumer.ReceivedAsync += (_, delivery) => OnReceivedAsync(channel, delivery, lanes, processing.Token);
            consumer.UnregisteredAsync += (_, _) =>
            {
                ended.TrySetResult("the consumer was cancelled");
                return Task.CompletedTask;
            };
            // A partitioned queue: one consumer per partition queue on this channel. The broker makes one consumer of each
            // partition (the first registered) the active one; this process stands by on the others.
            var partitioned = _options.FindPartitionedQueue(settings.Queue);
            if (partitioned is null)
            {
                await channel.BasicConsumeAsync(settings.Queue, autoAck: false, consumer, stoppingToken).ConfigureAwait(false);
                RabbitMqLog.ConsumerStarted(_logger, _consumer, settings.Queue, settings.PrefetchCount, settings.ConcurrentMessages);
            }
            else
            {
                // From a random partition on, so that processes starting together become active on different ones.
                var first = Random.Shared.Next(partitioned.Partitions);
                for (var i = 0; i < partitioned.Partitions; i++)
                {
                    var queue = partitioned.QueueName((first + i) % partitioned.Partitions);
                    await channel.BasicConsumeAsync(queue, autoAck: false, consumer, stoppingToken).ConfigureAwait(false);
                }

                RabbitMqLog.PartitionedConsumerStarted(_logger, _consumer, settings.Queue, partitioned.Partitions, settings.PrefetchCount, settings.ConcurrentMessages);
            }

            CurrentChannel = channel;
            try
            {
                return await ended.Task.WaitAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                if (partitioned is null)
                {
                    // Stop receiving more, then let what is in flight finish and be acknowledged.
                    await CancelQuietlyAsync(channel, consumer).ConfigureAwait(false);
                }
                else
                {
                    // Not cancelled: a cancel would make another process active at once, while this one still works
                    // through deliveries of the same keys. Only what is being processed finishes; what waits stays
                    // unacknowledged and goes back to its queue, in order, when the channel closes, and only then does
                    // the broker hand the partitions to the next consumer.
                    Volatile.Write(ref _holdBack, true);
                    RabbitMqLog.PartitionedConsumerStopping(_logger, _consumer, settings.Queue);
                }

                return "stopping";
            }
        }
        finally
        {
            CurrentChannel = null;
            await DrainAsync(settings.ShutdownTimeout, processing).ConfigureAwait(false);
            if (laneWorkers is not null)
            {
                await laneWorkers.ConfigureAwait(false);
            }

            await RabbitMqTransport.CloseQuietlyAsync(connection).ConfigureAwait(false);
        }
    }

    private async Task OnReceivedAsync(IChannel channel, BasicDeliverEventArgs delivery, Lanes? lanes, CancellationToken processing)
    {
        if (!channel.IsOpen || Volatile.Read(ref _holdBack))
        {
            // Prefetched before the channel closed: it can no longer be acknowledged, and the broker has already put
            // it back in the queue. Processing it would only make a duplicate for the inbox to skip. Or a partitioned
            // consumer is stopping: the delivery stays unacknowledged and goes back in order with the channel.
            return;
        }

        Interlocked.Increment(ref _inFlight);
        IncomingMessage message;
        try
        {
            message = RabbitMqMessageMapper.ToIncoming(delivery); // copies the body: it is only valid during this callback
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            Interlocked.Increment(ref _lostSettlements);
            RabbitMqLog.SettleFailed(_logger, ex, _consumer, delivery.DeliveryTag, null);
            Settled();
            return;
        }

        if (lanes is null)
        {
            await HandleAsync(channel, [new Delivery(message, delivery.DeliveryTag)], processing).ConfigureAwait(false);
            return;
        }

        // Same key, same lane: its messages are processed one after another, in delivery order.
        var lane = message.PartitionKey is { } key
            ? (int)((uint)StringComparer.Ordinal.GetHashCode(key) % (uint)lanes.Writers.Length)
            : (int)(Interlocked.Increment(ref lanes.RoundRobin) % lanes.Writers.Length);
        if (!lanes.Writers[lane].TryWrite(new Delivery(message, delivery.DeliveryTag)))
        {
            Settled(); // the session is ending: left unacknowledged, the broker redelivers it
        }
    }

    private Lanes StartLanes(IChannel channel, int count, int batchSize, CancellationToken processing)
    {
        var queues = Enumerable.Range(0, count)
            .Select(_ => System.Threading.Channels.Channel.CreateUnbounded<Delivery>(new() { SingleReader = true, SingleWriter = true }))
            .ToArray();
        var workers = queues.Select(queue => Task.Run(async () =>
        {
            // Bounded by the prefetch count: the broker sends no more than that many unacknowledged deliveries. What has
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

                if (processing.IsCancellationRequested || !channel.IsOpen || Volatile.Read(ref _holdBack))
                {
                    foreach (var _ in batch)
                    {
                        Settled(); // left unacknowledged: the broker redelivers them once the channel is closed
                    }
                }
                else
                {
                    await HandleAsync(channel, batch.ToArray(), processing).ConfigureAwait(false);
                }

                batch.Clear();
            }
        }, CancellationToken.None)).ToArray();
        processing.Register(() =>
        {
            foreach (var queue in queues)
            {
                queue.Writer.TryComplete();
            }
        });
        return new Lanes(queues.Select(q => q.Writer).ToArray(), Task.WhenAll(workers));
    }

    /// <summary>
    /// Runs deliveries that waited in one lane, in order, through the inbox (together, when the consumer's
    /// <see cref="InboxConsumerOptions.MaxBatchSize"/> allows) and acknowledges each one the inbox has an outcome for.
    /// </summary>
    private async Task HandleAsync(IChannel channel, IReadOnlyList<Delivery> deliveries, CancellationToken processing)
    {
        var settled = 0;
        try
        {
            IReadOnlyList<ReceiveDisposition> dispositions;
            try
            {
                dispositions = await _receiver.ReceiveBatchAsync(_consumer, deliveries.Select(d => d.Message).ToArray(), processing).ConfigureAwait(false);
                if (dispositions.Count != deliveries.Count)
                {
                    throw new InvalidOperationException(
                        $"The inbox receiver returned {dispositions.Count} disposition(s) for {deliveries.Count} message(s).");
                }
            }
            catch (OperationCanceledException) when (processing.IsCancellationRequested)
            {
                return; // left unacknowledged: the broker redelivers them when the channel closes
            }
            catch (Exception ex)
            {
                RabbitMqLog.ReceiveFailed(_logger, ex, _consumer, deliveries[0].Message.MessageId);
                dispositions = [.. deliveries.Select(_ => ReceiveDisposition.Requeue)];
            }

            for (; settled < deliveries.Count; settled++)
            {
                var delivery = deliveries[settled];
                if (dispositions[settled] == ReceiveDisposition.Reject)
                {
                    // The consumer's dead letters are full: refused for good (to the queue's dead-letter exchange, if any).
                    try
                    {
                        await channel.BasicRejectAsync(delivery.Tag, requeue: false, CancellationToken.None).ConfigureAwait(false);
                        continue;
                    }
                    catch (Exception ex) when (ex is not OutOfMemoryException)
                    {
                        Interlocked.Add(ref _lostSettlements, deliveries.Count - settled);
                        RabbitMqLog.SettleFailed(_logger, ex, _consumer, delivery.Tag, delivery.Message.MessageId);
                        break;
                    }
                }

                if (dispositions[settled] != ReceiveDisposition.Acknowledge)
                {
                    // The inbox could not record an outcome (its database is down). A nack would put this delivery back
                    // behind the later messages of its key this session already holds, and they would be processed
                    // first. Instead stop processing and end the session: the broker puts every unacknowledged delivery
                    // back in its original order, and the next session (after ReconnectInterval) starts from them.
                    Volatile.Read(ref _session)?.End("the inbox could not record an outcome: every unacknowledged delivery goes back to the queue in order");
                    break;
                }

                try
                {
                    await channel.BasicAckAsync(delivery.Tag, multiple: false, CancellationToken.None).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    // The channel went away after the inbox committed: the broker will redeliver, the inbox will skip it.
                    Interlocked.Add(ref _lostSettlements, deliveries.Count - settled);
                    RabbitMqLog.SettleFailed(_logger, ex, _consumer, delivery.Tag, delivery.Message.MessageId);
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

    private readonly record struct Delivery(IncomingMessage Message, ulong Tag);

    /// <summary>The current session's end signal and processing token.</summary>
    private sealed class Session(TaskCompletionSource<string> ended, CancellationTokenSource processing)
    {
        public void End(string reason)
        {
            if (ended.TrySetResult(reason))
            {
                try
                {
                    processing.Cancel(); // in-flight and queued deliveries stay unacknowledged
                }
                catch (ObjectDisposedException)
                {
                    // The session is already over.
                }
            }
        }
    }

    private sealed class Lanes(System.Threading.Channels.ChannelWriter<Delivery>[] writers, Task workers)
    {
        public System.Threading.Channels.ChannelWriter<Delivery>[] Writers { get; } = writers;

        public Task Workers { get; } = workers;

        public long RoundRobin;
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
                RabbitMqLog.ConsumerStopped(_logger, _consumer, left);
            }
        }

        await processing.CancelAsync().ConfigureAwait(false);
    }

    private static async Task CancelQuietlyAsync(IChannel channel, AsyncEventingBasicConsumer consumer)
    {
        try
        {
            foreach (var tag in consumer.ConsumerTags)
            {
                await channel.BasicCancelAsync(tag, noWait: false, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
            }
        }
        catch (Exception)
        {
            // The channel is gone already: nothing more will be delivered either way.
        }
    }

    /// <summary>Exponential from 200 ms, capped at 8 × <see cref="RabbitMqOptions.ReconnectInterval"/>, with equal jitter.</summary>
    private static TaskCompletionSource NewDrained() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
