using System.ComponentModel.DataAnnotations;
using Confluent.Kafka;

namespace Outbox.Kafka;

/// <summary>
/// Options of one Kafka consumer, named by the consumer name, bound from <c>Outbox:Kafka:Consumers:{name}</c> and
/// validated at start-up.
/// </summary>
public sealed class KafkaConsumerOptions
{
    /// <summary>The configuration section under which each consumer's options bind, by consumer name.</summary>
    public const string SectionName = "Outbox:Kafka:Consumers";

    /// <summary>The topics to consume (at least one).</summary>
    [MinLength(1)]
    public IList<string> Topics { get; } = new List<string>();

    /// <summary>
    /// The consumer group (<c>group.id</c>). Every process that runs this consumer joins it, and the partitions of
    /// <see cref="Topics"/> are spread over them.
    /// <value>The default value is <see langword="null"/>: the consumer name.</value>
    /// </summary>
    [StringLength(255, MinimumLength = 1)]
    public string? GroupId { get; set; }

    /// <summary>
    /// Where a group with no committed offset for a partition starts (<c>auto.offset.reset</c>).
    /// <value>The default value is <see cref="AutoOffsetReset.Earliest"/>: nothing written before the group first joined is skipped.</value>
    /// </summary>
    public AutoOffsetReset AutoOffsetReset { get; set; } = AutoOffsetReset.Earliest;

    /// <summary>
    /// How many partitions are processed at the same time. Each assigned partition is a lane of its own, processed in
    /// offset order (so one key's messages are processed in the order they were written); this bounds how many lanes
    /// run a batch through the inbox at once.
    /// <value>The default value is 8.</value>
    /// </summary>
    [Range(1, 1024)]
    public int ConcurrentPartitions { get; set; } = 8;

    /// <summary>
    /// How many fetched messages a partition's lane may hold before the partition is paused (and resumed once the lane
    /// has caught up). Inbox batches (<c>InboxConsumerOptions.MaxBatchSize</c>) are made of what waits in a lane.
    /// <value>The default value is 1000.</value>
    /// </summary>
    [Range(1, 1_000_000)]
    public int MaxBufferedPerPartition { get; set; } = 1000;

    /// <summary>
    /// How often processed offsets are committed (manual commits, per partition, of offsets whose inbox transaction has
    /// committed). Offsets are also committed when partitions are revoked and on shutdown. A crash loses at most this
    /// much progress: those messages come again and the inbox skips them.
    /// <value>The default value is 1 second.</value>
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:10:00")]
    public TimeSpan CommitInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// The group session timeout (<c>session.timeout.ms</c>): a member not heard from for this long is removed and its
    /// partitions given to others.
    /// <value>The default value is 45 seconds.</value>
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:30:00")]
    public TimeSpan SessionTimeout { get; set; } = TimeSpan.FromSeconds(45);

    /// <summary>
    /// On shutdown or when partitions are revoked in a rebalance, how long the batches being processed may still finish
    /// and have their offsets committed; what is still running then is cancelled and rolled back, and the partition's
    /// next owner reads it again (the inbox absorbs anything that did commit).
    /// <value>The default value is 10 seconds.</value>
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Adds a topic to consume.</summary>
    /// <returns>These options, for chaining.</returns>
    public KafkaConsumerOptions AddTopic(string topic)
    {
        Topics.Add(topic);
        return this;
    }
}
