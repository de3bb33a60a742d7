using System.Collections.Concurrent;
using System.Threading.Channels;
using Confluent.Kafka;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Outbox.Kafka;

/// <summary>
/// A consumer group member for one consumer: it subscribes to the consumer's topics and feeds each message to the
/// inbox (<see cref="IInboxReceiver"/>). Every assigned partition is a lane of its own, processed in offset order
/// (batches of what waits in the lane, up to <see cref="InboxConsumerOptions.MaxBatchSize"/>), while different
/// partitions proceed in parallel. Offsets are committed manually, per partition and in batches (every
/// <see cref="KafkaConsumerOptions.CommitInterval"/>, on revocation and on shutdown), and only up to messages the inbox
/// has an outcome for (processed, duplicate or dead-lettered): its transaction has committed. When the inbox cannot
/// record an outcome the partition is read again from that message, so nothing is skipped and the order stays.
/// </summary>
/// <remarks>
/// Rebalances: a revoked partition stops taking new batches; the batch in flight may finish within
/// <see cref="KafkaConsumerOptions.ShutdownTimeout"/> and its offset is committed before the partition goes; what is
/// still running then is cancelled (rolled back). A lost partition (the member was expelled) is abandoned without a
/// commit. Either way the new owner starts from the last committed offset, and the inbox skips anything that had
/// already been processed. A consumer error that ends the client (a fatal error) starts a new client after a pause.
/// </remarks>
internal sealed class KafkaInboxConsumer : BackgroundService
{
    private static readonly TimeSpan ErrorBaseDelay = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan ErrorMaxDelay = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan PollTimeout = TimeSpan.FromMilliseconds(100);

    private readonly string _consumer;
    private readonly KafkaOptions _options;
    private readonly IOptionsMonitor<KafkaConsumerOptions> _consumerOptions;
    private readonly IInboxReceiver _receiver;
    private readonly IOptionsMonitor<InboxConsumerOptions> _inboxOptions;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly string _clientName;
    private int _assigned;

    public KafkaInboxConsumer(
        string consumer,
        IOptions<KafkaOptions> options,
        IOptionsMonitor<KafkaConsumerOptions> consumerOptions,
        IInboxReceiver receiver,
        IOptionsMonitor<InboxConsumerOptions> inboxOptions,
        TimeProvider timeProvider,
        ILogger<KafkaInboxConsumer> logger)
    {
        _consumer = consumer;
        _clientName = $"consumer {consumer}";
        _options = options.Value;
        _consumerOptions = consumerOptions;
        _receiver = receiver;
        _inboxOptions = inboxOptions;
        _time = timeProvider;
        _logger = logger;
    }

    /// <summary>The consumer name.</summary>
    public string Consumer => _consumer;

    /// <summary>How many partitions this member holds now. For tests that wait for a rebalance.</summary>
    internal int AssignedPartitions => Volatile.Read(ref _assigned);

    /// <summary>Commits made so far (each may cover several partitions). For tests.</summary>
    internal long Commits => Interlocked.Read(ref _commits);

    private long _commits;

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        // Consume blocks: the loop has a thread of its own.
        Task.Factory.StartNew(() => Run(stoppingToken), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    private void Run(CancellationToken stoppingToken)
    {
        var failures = 0;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                RunClient(stoppingToken);
                failures = 0;
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                failures++;
                var pause = RetryBackoff.Compute(failures, ErrorBaseDelay, ErrorMaxDelay, Random.Shared.NextDouble());
                KafkaLog.ConsumerFailed(_logger, ex, _consumer, pause);
                stoppingToken.WaitHandle.WaitOne(pause);
            }
        }
    }

    /// <summary>One client's life: subscribe, consume and dispatch to lanes, commit, until the host stops or the client fails.</summary>
    private void RunClient(CancellationToken stoppingToken)
    {
        var settings = _consumerOptions.Get(_consumer);
        var inbox = _inboxOptions.Get(_consumer);
        var group = settings.GroupId ?? _consumer;
        var config = new ConsumerConfig(_options.CreateClientConfig($"consumer-{_consumer}"))
        {
            GroupId = group,
            EnableAutoCommit = false,
            EnableAutoOffsetStore = false,
            AutoOffsetReset = settings.AutoOffsetReset,
            SessionTimeoutMs = (int)settings.SessionTimeout.TotalMilliseconds,
            PartitionAssignmentStrategy = PartitionAssignmentStrategy.CooperativeSticky,
            EnablePartitionEof = false,
        };

        using var session = new Session(this, settings, inbox);
        using var client = new ConsumerBuilder<byte[]?, byte[]?>(config)
            .SetErrorHandler((_, e) => KafkaLog.ClientError(_logger, _clientName, e.Code, e.Reason, e.IsFatal))
            .SetLogHandler((_, m) => KafkaLog.ClientLog(_logger, _clientName, m.Facility, m.Message))
            .SetPartitionsAssignedHandler((_, partitions) => session.Assign(partitions))
            .SetPartitionsRevokedHandler((c, partitions) => session.Revoke(c, partitions.Select(p => p.TopicPartition), lost: false))
            .SetPartitionsLostHandler((c, partitions) => session.Revoke(c, partitions.Select(p => p.TopicPartition), lost: true))
            .Build();
        client.Subscribe(settings.Topics);
        if (_logger.IsEnabled(LogLevel.Information))
        {
            var topics = string.Join(",", settings.Topics);
            KafkaLog.ConsumerStarted(_logger, _consumer, group, topics);
        }
        try
        {
            var nextCommit = _time.GetTimestamp();
            while (!stoppingToken.IsCancellationRequested)
            {
                ConsumeResult<byte[]?, byte[]?>? result = null;
                try
                {
                    result = client.Consume(PollTimeout);
                }
                catch (ConsumeException ex) when (!ex.Error.IsFatal)
                {
                    // E.g. a subscribed topic that does not exist (yet): logged, the subscription stays.
                    KafkaLog.ClientError(_logger, _clientName, ex.Error.Code, ex.Error.Reason, false);
                }

                if (result is { IsPartitionEOF: false, Message: not null })
                {
                    session.Dispatch(result);
                }

                session.Housekeep(client);
                if (_time.GetElapsedTime(nextCommit) >= settings.CommitInterval)
                {
                    session.Commit(client, session.AllLanes);
                    nextCommit = _time.GetTimestamp();
                }
            }
        }
        finally
        {
            // Stop every lane (its batch in flight may finish), commit what the inbox committed, then leave the group.
            session.Revoke(client, session.AllLanes.Select(l => l.Partition).ToArray(), lost: false);
            try
            {
                client.Close();
            }
            catch (KafkaException ex)
            {
                KafkaLog.ClientError(_logger, _clientName, ex.Error.Code, ex.Error.Reason, ex.Error.IsFatal);
            }

            KafkaLog.ConsumerStopped(_logger, _consumer);
        }
    }

    /// <summary>The lanes of one client, touched only on its consume thread (the rebalance handlers run there too).</summary>
    private sealed class Session(KafkaInboxConsumer owner, KafkaConsumerOptions settings, InboxConsumerOptions inbox) : IDisposable
    {
        private readonly Dictionary<TopicPartition, Lane> _lanes = [];
        private readonly SemaphoreSlim _concurrency = new(settings.ConcurrentPartitions, settings.ConcurrentPartitions);
        private readonly List<Task> _stuck = [];

        public IReadOnlyCollection<Lane> AllLanes => _lanes.Values.ToArray();

        public void Dispose()
        {
            if (_stuck.TrueForAll(static worker => worker.IsCompleted))
            {
                _concurrency.Dispose();
            }
        }

        public void Assign(IEnumerable<TopicPartition> partitions)
        {
            var added = new List<TopicPartition>();
            foreach (var partition in partitions)
            {
                if (!_lanes.ContainsKey(partition))
                {
                    var lane = new Lane(partition);
                    lane.Worker = Task.Run(() => RunLaneAsync(lane));
                    _lanes[partition] = lane;
                    added.Add(partition);
                }
            }

            Interlocked.Exchange(ref owner._assigned, _lanes.Count);
            if (added.Count > 0 && owner._logger.IsEnabled(LogLevel.Information))
            {
                var names = string.Join(",", added);
                KafkaLog.PartitionsAssigned(owner._logger, owner._consumer, names);
            }
        }

        public void Dispatch(ConsumeResult<byte[]?, byte[]?> result)
        {
            if (!_lanes.TryGetValue(result.TopicPartition, out var lane) || lane.Stopping)
            {
                return; // not ours (any more): its next owner reads it from the committed offset
            }

            var message = KafkaMessageMapper.ToIncoming(result) with { ReceivedAt = owner._time.GetUtcNow() };
            Interlocked.Increment(ref lane.Buffered);
            if (!lane.Queue.Writer.TryWrite(new Item(message, result.Offset.Value, Volatile.Read(ref lane.Epoch))))
            {
                Interlocked.Decrement(ref lane.Buffered);
            }
        }

        /// <summary>Rewinds partitions whose inbox asked for redelivery, and pauses or resumes partitions by their backlog.</summary>
        public void Housekeep(IConsumer<byte[]?, byte[]?> client)
        {
            foreach (var lane in _lanes.Values)
            {
                var rewind = Interlocked.Exchange(ref lane.PendingRewind, -1);
                if (rewind >= 0 && !lane.Stopping)
                {
                    Interlocked.Increment(ref lane.Epoch); // whatever was fetched before the seek is dropped by the lane
                    try
                    {
                        client.Seek(new TopicPartitionOffset(lane.Partition, new Offset(rewind)));
                        if (owner._logger.IsEnabled(LogLevel.Information))
                        {
                            var name = lane.Partition.ToString();
                            KafkaLog.Rewind(owner._logger, owner._consumer, name, rewind);
                        }
                    }
                    catch (KafkaException ex)
                    {
                        // Seeking failed (the partition is being revoked): the next owner starts from the committed offset.
                        KafkaLog.ClientError(owner._logger, owner._clientName, ex.Error.Code, ex.Error.Reason, ex.Error.IsFatal);
                    }
                }

                var buffered = Volatile.Read(ref lane.Buffered);
                if (!lane.Paused && buffered >= settings.MaxBufferedPerPartition)
                {
                    client.Pause([lane.Partition]);
                    lane.Paused = true;
                }
                else if (lane.Paused && buffered <= settings.MaxBufferedPerPartition / 2)
                {
                    client.Resume([lane.Partition]);
                    lane.Paused = false;
                }
            }
        }

        /// <summary>Commits, per partition, the offset after the last message whose inbox outcome is recorded.</summary>
        public void Commit(IConsumer<byte[]?, byte[]?> client, IEnumerable<Lane> lanes)
        {
            var offsets = new List<(Lane Lane, long Offset)>();
            foreach (var lane in lanes)
            {
                var committable = Volatile.Read(ref lane.Committable);
                if (committable > lane.Committed)
                {
                    offsets.Add((lane, committable));
                }
            }

            if (offsets.Count == 0)
            {
                return;
            }

            try
            {
                client.Commit(offsets.Select(o => new TopicPartitionOffset(o.Lane.Partition, new Offset(o.Offset))));
                foreach (var (lane, offset) in offsets)
                {
                    lane.Committed = offset;
                }

                Interlocked.Increment(ref owner._commits);
            }
            catch (KafkaException ex)
            {
                KafkaLog.CommitFailed(owner._logger, owner._consumer, $"{ex.Error.Code}: {ex.Error.Reason}");
            }
        }

        /// <summary>
        /// Stops the lanes of <paramref name="partitions"/>: no new batches; the batch in flight may finish within the
        /// shutdown timeout, then what is left is cancelled. Their offsets are committed unless the partitions were lost.
        /// </summary>
        public void Revoke(IConsumer<byte[]?, byte[]?> client, IEnumerable<TopicPartition> partitions, bool lost)
        {
            var stopping = new List<Lane>();
            foreach (var partition in partitions)
            {
                if (_lanes.Remove(partition, out var lane))
                {
                    lane.Stopping = true;
                    lane.Queue.Writer.TryComplete();
                    stopping.Add(lane);
                }
            }

            Interlocked.Exchange(ref owner._assigned, _lanes.Count);
            if (stopping.Count == 0)
            {
                return;
            }

            var workers = Task.WhenAll(stopping.Select(l => l.Worker!));
            var abandoned = 0;
            if (!workers.Wait(settings.ShutdownTimeout))
            {
                foreach (var lane in stopping.Where(l => !l.Worker!.IsCompleted))
                {
                    abandoned++;
                    lane.Processing.Cancel(); // rolled back: the partition's next owner processes it
                }

                workers.Wait(TimeSpan.FromSeconds(30));
            }

            if (!lost)
            {
                Commit(client, stopping);
            }

            foreach (var lane in stopping)
            {
                if (lane.Worker!.IsCompleted)
                {
                    lane.Processing.Dispose(); // one still running (stuck past the timeouts) keeps its token
                }
                else
                {
                    _stuck.Add(lane.Worker);
                }
            }

            if (owner._logger.IsEnabled(LogLevel.Information))
            {
                var names = string.Join(",", stopping.Select(l => l.Partition));
                KafkaLog.PartitionsRevoked(owner._logger, owner._consumer, names, lost ? "lost" : "revoked", abandoned);
            }
        }

        private async Task RunLaneAsync(Lane lane)
        {
            var batchSize = Math.Max(1, inbox.MaxBatchSize);
            var batch = new List<Item>(batchSize);
            var skipUpToEpoch = -1L;
            var token = lane.Processing.Token;
            while (await lane.Queue.Reader.WaitToReadAsync(CancellationToken.None).ConfigureAwait(false))
            {
                while (batch.Count < batchSize && lane.Queue.Reader.TryRead(out var item))
                {
                    Interlocked.Decrement(ref lane.Buffered);
                    if (item.Epoch > skipUpToEpoch)
                    {
                        batch.Add(item);
                    }
                }

                if (batch.Count == 0)
                {
                    continue;
                }

                if (lane.Stopping || token.IsCancellationRequested)
                {
                    batch.Clear(); // not started: the next owner reads it from the committed offset
                    continue;
                }

                try
                {
                    await _concurrency.WaitAsync(token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                IReadOnlyList<ReceiveDisposition> dispositions;
                try
                {
                    dispositions = await owner._receiver.ReceiveBatchAsync(owner._consumer, batch.Select(i => i.Message).ToArray(), token).ConfigureAwait(false);
                    if (dispositions.Count != batch.Count)
                    {
                        throw new InvalidOperationException($"The inbox receiver returned {dispositions.Count} disposition(s) for {batch.Count} message(s).");
                    }
                }
                catch (OperationCanceledException) when (token.IsCancellationRequested)
                {
                    return; // abandoned: not committed
                }
                catch (Exception ex)
                {
                    KafkaLog.ReceiveFailed(owner._logger, ex, owner._consumer, batch[0].Message.MessageId, $"{lane.Partition}");
                    try
                    {
                        await Task.Delay(inbox.RequeueDelay, owner._time, token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                        return;
                    }

                    dispositions = [.. batch.Select(_ => ReceiveDisposition.Requeue)];
                }
                finally
                {
                    _concurrency.Release();
                }

                // Acknowledged and refused messages both have their outcome: a refused one (the consumer's dead
                // letters are full) must not be read again and again, so its offset is committed past it too.
                var settled = 0;
                while (settled < batch.Count && dispositions[settled] != ReceiveDisposition.Requeue)
                {
                    if (dispositions[settled] == ReceiveDisposition.Reject)
                    {
                        KafkaLog.Refused(owner._logger, owner._consumer, batch[settled].Message.MessageId, $"{lane.Partition}", batch[settled].Offset);
                    }

                    settled++;
                }

                if (settled > 0)
                {
                    Volatile.Write(ref lane.Committable, batch[settled - 1].Offset + 1);
                }

                if (settled < batch.Count)
                {
                    // The inbox has no outcome for this message: read the partition again from it, dropping what was
                    // fetched after it, so that it and the messages behind it are processed again, in order.
                    skipUpToEpoch = Volatile.Read(ref lane.Epoch);
                    Interlocked.Exchange(ref lane.PendingRewind, batch[settled].Offset);
                }

                batch.Clear();
            }
        }
    }

    private readonly record struct Item(IncomingMessage Message, long Offset, long Epoch);

    private sealed class Lane(TopicPartition partition)
    {
        public TopicPartition Partition { get; } = partition;

        public Channel<Item> Queue { get; } = Channel.CreateUnbounded<Item>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });

        public CancellationTokenSource Processing { get; } = new();

        public Task? Worker { get; set; }

        public volatile bool Stopping;

        public bool Paused;

        public int Buffered;

        public long Epoch;

        public long PendingRewind = -1;

        /// <summary>The offset after the last message with a recorded outcome; written by the lane, committed by the client.</summary>
        public long Committable = -1;

        public long Committed = -1;
    }
}
