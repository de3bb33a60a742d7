using System.ComponentModel.DataAnnotations;

namespace Outbox.RabbitMQ;

/// <summary>
/// Options of one RabbitMQ consumer, named by the consumer name, bound from <c>Outbox:RabbitMQ:Consumers:{name}</c>
/// and validated at start-up.
/// </summary>
public sealed class RabbitMqConsumerOptions
{
    /// <summary>The configuration section under which each consumer's options bind, by consumer name.</summary>
    public const string SectionName = "Outbox:RabbitMQ:Consumers";

    /// <summary>
    /// The queue to consume from. Declare it in <see cref="RabbitMqOptions.Queues"/> or elsewhere. When it names a
    /// partitioned queue (<see cref="RabbitMqOptions.PartitionedQueues"/>), the consumer consumes every partition queue,
    /// each of which the broker gives to one active consumer at a time (docs/rabbitmq.md, "Partitioned queues").
    /// </summary>
    [Required(AllowEmptyStrings = false)]
    [StringLength(255)]
    public string Queue { get; set; } = "";

    /// <summary>
    /// How many unacknowledged messages the broker sends ahead (<c>basic.qos</c>). With inbox batching
    /// (<c>InboxConsumerOptions.MaxBatchSize</c>), batches are made of prefetched messages: for full batches allow at
    /// least <see cref="ConcurrentMessages"/> × MaxBatchSize, better twice that so the next batch is already there. On a
    /// partitioned queue the count applies to each partition queue this consumer is active on.
    /// Why 400: twice the default 4 lanes × 50 (the default <c>MaxBatchSize</c>), so that under load every lane finds a
    /// full batch waiting; when the consumer keeps up, prefetched messages do not wait (a batch never waits to fill).
    /// <value>The default value is 400.</value>
    /// </summary>
    [Range(1, 65_535)]
    public int PrefetchCount { get; set; } = 400;

    /// <summary>
    /// How many messages are processed at the same time. Messages are spread over this many lanes by partition key:
    /// messages of one key are always processed one after another, in the order the broker delivered them, while
    /// different keys proceed in parallel (unkeyed messages go to any lane).
    /// Why 4: one lane processes one transaction at a time, and a transaction waits mostly for the database's disk
    /// flush; 4 lanes overlap those waits (with batching, they kept pace with 8 producers committing to one PostgreSQL
    /// database, where 1 lane fell behind; see docs/performance.md), while more lanes add connections and contention
    /// for little gain on a small machine.
    /// <value>The default value is 4.</value>
    /// </summary>
    [Range(1, 256)]
    public int ConcurrentMessages { get; set; } = 4;

    /// <summary>
    /// On shutdown (or a lost connection), how long messages being processed may still finish and be acknowledged;
    /// what is still running then is cancelled and rolled back, and the broker redelivers it.
    /// <value>The default value is 10 seconds.</value>
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(10);
}
