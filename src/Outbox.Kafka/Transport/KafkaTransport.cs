using Confluent.Kafka;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Outbox.Kafka;

/// <summary>
/// Produces outbox messages to Kafka with an idempotent producer (<c>enable.idempotence=true</c>, so <c>acks=all</c>
/// and no duplicates or reordering from the producer's own retries). A send returns once its delivery report came
/// back: the message is then written to every in-sync replica. The dispatcher sends a batch concurrently; each send
/// enqueues its record at once, in the batch's order, and the delivery reports of the whole batch are awaited together
/// while librdkafka packs the records into few requests.
/// </summary>
/// <remarks>
/// Failures are classified where they happen: a report that refuses one record (topic missing or forbidden, record too
/// large or invalid) is a <see cref="KafkaMessageRejectedException"/>, permanent when no retry can help; anything else
/// (brokers unreachable, the delivery timeout, a fatal producer error) is a failure of the cluster, which the dispatcher
/// retries and counts towards the destination's circuit breaker. After a fatal error (the idempotent producer's state is
/// lost) the producer is replaced on the next send. On dispose, outstanding records are flushed for at most the longest
/// <see cref="OutboxDispatcherOptions.ShutdownTimeout"/> of the host's outboxes.
/// </remarks>
internal sealed class KafkaTransport : IMessageTransport, IDisposable
{
    private readonly KafkaOptions _options;
    private readonly TimeSpan _shutdownTimeout;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private IProducer<byte[]?, byte[]>? _producer;
    private bool _disposed;

    /// <summary>
    /// The transport of the host. One instance serves every outbox that routes to Kafka, so its flush on dispose lasts
    /// for the longest <see cref="OutboxDispatcherOptions.ShutdownTimeout"/> of the host's outboxes (it returns as soon
    /// as the outstanding records are delivered).
    /// </summary>
    public KafkaTransport(IOptions<KafkaOptions> options, IEnumerable<OutboxInstance> outboxes, IOptionsMonitor<OutboxDispatcherOptions> dispatcherOptions, ILogger<KafkaTransport> logger)
        : this(options, LongestShutdownTimeout(outboxes, dispatcherOptions), logger)
    {
    }

    /// <summary>How long a dispose flushes outstanding records at most.</summary>
    internal TimeSpan FlushTimeout => _shutdownTimeout;

    internal KafkaTransport(IOptions<KafkaOptions> options, TimeSpan shutdownTimeout, ILogger<KafkaTransport> logger)
    {
        _options = options.Value;
        _shutdownTimeout = shutdownTimeout;
        _logger = logger;
    }

    private static TimeSpan LongestShutdownTimeout(IEnumerable<OutboxInstance> outboxes, IOptionsMonitor<OutboxDispatcherOptions> dispatcherOptions)
    {
        var longest = TimeSpan.Zero;
        foreach (var outbox in outboxes)
        {
            var timeout = dispatcherOptions.Get(outbox.OptionsName).ShutdownTimeout;
            longest = timeout > longest ? timeout : longest;
        }

        return longest > TimeSpan.Zero ? longest : new OutboxDispatcherOptions().ShutdownTimeout;
    }

    public Task SendAsync(OutboxMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (message.Payload.Length > _options.MaxMessageSize)
        {
            throw new PermanentDeliveryException(
                $"The payload has {message.Payload.Length} bytes, more than {nameof(KafkaOptions)}.{nameof(KafkaOptions.MaxMessageSize)} ({_options.MaxMessageSize}).");
        }

        var topic = _options.ResolveTopic(message);
        if (KafkaTopicName.WhyInvalid(topic) is { } why)
        {
            throw new PermanentDeliveryException($"The topic '{Shorten(topic)}' for destination '{Shorten(message.Destination)}' {why}");
        }

        cancellationToken.ThrowIfCancellationRequested();
        var producer = GetProducer();
        var report = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        // Produce (not ProduceAsync) enqueues synchronously, so the records of a batch keep the order the dispatcher
        // started their sends in; the handler runs on librdkafka's delivery-report thread.
        try
        {
            producer.Produce(topic, KafkaMessageMapper.ToMessage(message), delivery => Complete(report, producer, delivery, topic));
        }
        catch (ProduceException<byte[]?, byte[]> ex)
        {
            throw Classify(ex.Error, topic, ex);
        }

        // The record cannot be taken back once enqueued: stop waiting on cancellation (the dispatcher retries the
        // message later; the inbox absorbs the duplicate if it did arrive).
        return report.Task.WaitAsync(cancellationToken);
    }

    public void Dispose()
    {
        IProducer<byte[]?, byte[]>? producer;
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            producer = _producer;
            _producer = null;
        }

        if (producer is not null)
        {
            Retire(producer, "shutdown");
        }
    }

    private void Complete(TaskCompletionSource report, IProducer<byte[]?, byte[]> producer, DeliveryReport<byte[]?, byte[]> delivery, string topic)
    {
        if (!delivery.Error.IsError && delivery.Status == PersistenceStatus.Persisted)
        {
            report.TrySetResult();
            return;
        }

        if (delivery.Error.IsFatal)
        {
            ReplaceAfterFatal(producer, delivery.Error);
        }

        report.TrySetException(delivery.Error.IsError
            ? Classify(delivery.Error, topic, null)
            : new IOException($"The delivery report for topic '{topic}' says the record is {delivery.Status}, not persisted."));
    }

    /// <summary>Message-level errors become <see cref="KafkaMessageRejectedException"/>; the rest stay failures of the cluster.</summary>
    internal static Exception Classify(Error error, string topic, Exception? inner)
    {
        var reason = $"Kafka refused the record for topic '{topic}': {error.Code} ({error.Reason}).";
        return error.Code switch
        {
            ErrorCode.MsgSizeTooLarge or ErrorCode.InvalidMsgSize or ErrorCode.RecordListTooLarge
                or ErrorCode.InvalidRecord or ErrorCode.InvalidMsg or ErrorCode.TopicException or ErrorCode.Local_InvalidArg
                => new KafkaMessageRejectedException(reason, error.Code, permanent: true, inner),
            ErrorCode.UnknownTopicOrPart or ErrorCode.Local_UnknownTopic or ErrorCode.Local_UnknownPartition
                or ErrorCode.TopicAuthorizationFailed or ErrorCode.TopicDeletionDisabled or ErrorCode.PolicyViolation
                => new KafkaMessageRejectedException(reason, error.Code, permanent: false, inner),
            _ => new KafkaException(error),
        };
    }

    private IProducer<byte[]?, byte[]> GetProducer()
    {
        var producer = Volatile.Read(ref _producer);
        if (producer is not null)
        {
            return producer;
        }

        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_producer is null)
            {
                var config = new ProducerConfig(_options.CreateClientConfig("producer"))
                {
                    EnableIdempotence = true,
                    Acks = Acks.All,
                    MaxInFlight = 5,
                    LingerMs = _options.Linger.TotalMilliseconds,
                    MessageTimeoutMs = (int)_options.DeliveryTimeout.TotalMilliseconds,
                    MessageMaxBytes = _options.MaxMessageSize + (64 * 1024),
                    Partitioner = Partitioner.Murmur2Random, // the Java client's partitioner: keyed records land where Java producers put them
                    EnableDeliveryReports = true,
                    DeliveryReportFields = "status",
                };
                Volatile.Write(ref _producer, new ProducerBuilder<byte[]?, byte[]>(config)
                    .SetErrorHandler((_, e) => KafkaLog.ClientError(_logger, "producer", e.Code, e.Reason, e.IsFatal))
                    .SetLogHandler((_, m) => KafkaLog.ClientLog(_logger, "producer", m.Facility, m.Message))
                    .Build());
                KafkaLog.ProducerCreated(_logger, _options.BootstrapServers);
            }

            return _producer!;
        }
    }

    private void ReplaceAfterFatal(IProducer<byte[]?, byte[]> producer, Error error)
    {
        lock (_gate)
        {
            if (!ReferenceEquals(_producer, producer))
            {
                return;
            }

            _producer = null;
        }

        KafkaLog.ProducerFatal(_logger, error.Code, error.Reason);

        // Not on the delivery-report thread: disposing waits for it.
        _ = Task.Run(() => Retire(producer, "fatal error"));
    }

    private void Retire(IProducer<byte[]?, byte[]> producer, string reason)
    {
        try
        {
            var left = producer.Flush(_shutdownTimeout);
            if (left > 0)
            {
                KafkaLog.ProducerFlushIncomplete(_logger, left, _shutdownTimeout, reason);
            }
        }
        catch (Exception ex) when (ex is KafkaException or ObjectDisposedException)
        {
            KafkaLog.ProducerFlushIncomplete(_logger, -1, _shutdownTimeout, ex.Message);
        }
        finally
        {
            producer.Dispose();
        }
    }

    private static string Shorten(string value) => value.Length <= 40 ? value : string.Concat(value.AsSpan(0, 40), "…");
}
