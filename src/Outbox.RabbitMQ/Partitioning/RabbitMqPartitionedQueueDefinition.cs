using System.ComponentModel.DataAnnotations;
using System.Globalization;

namespace Outbox.RabbitMQ;

/// <summary>
/// A logical queue split into <see cref="Partitions"/> queues <c>{Name}.0</c> to <c>{Name}.{Partitions - 1}</c>, each
/// with a single active consumer (<c>x-single-active-consumer</c>), bound to the direct exchange
/// <see cref="Exchange"/> with the partition number as binding key. The transport publishes a message for that exchange
/// with the routing key of its partition (<see cref="RabbitMqPartitioning"/>); a consumer of queue <see cref="Name"/>
/// consumes every partition. Declared by <see cref="RabbitMqOptions.Partition"/> or bound from
/// <c>Outbox:RabbitMQ:PartitionedQueues</c>. See docs/rabbitmq.md, "Partitioned queues".
/// </summary>
public sealed class RabbitMqPartitionedQueueDefinition
{
    /// <summary>The logical queue's name: the partitions are the queues <c>{Name}.{k}</c>; consumers name this queue.</summary>
    public string Name { get; set; } = "";

    /// <summary>
    /// The direct exchange the partitions are bound to, which is the destination messages are published to. Several
    /// partitioned queues (one per consuming service) may share one exchange if they have the same partition count.
    /// <value>The default value is <see langword="null"/>: the exchange named <see cref="Name"/>.</value>
    /// </summary>
    public string? Exchange { get; set; }

    /// <summary>
    /// How many partition queues. Changing it re-maps keys to other partitions: drain the queues first (docs/rabbitmq.md).
    /// <value>The default value is 4.</value>
    /// </summary>
    [Range(1, 1024)]
    public int Partitions { get; set; } = 4;

    /// <summary>
    /// Whether the partition queues (and the persistent messages in them) survive a broker restart.
    /// <value>The default value is <see langword="true"/>.</value>
    /// </summary>
    public bool Durable { get; set; } = true;

    /// <summary>
    /// The queue type of the partitions (<c>x-queue-type</c>): <c>classic</c> or <c>quorum</c>.
    /// <value>The default value is <see langword="null"/>: the broker's default.</value>
    /// </summary>
    public string? QueueType { get; set; }

    /// <summary>The exchange the partitions are bound to: <see cref="Exchange"/>, else <see cref="Name"/>.</summary>
    public string ExchangeName => string.IsNullOrEmpty(Exchange) ? Name : Exchange;

    /// <summary>The name of partition <paramref name="partition"/>'s queue: <c>{Name}.{partition}</c>.</summary>
    /// <param name="partition">The partition index.</param>
    /// <returns>The queue name.</returns>
    public string QueueName(int partition) => string.Create(CultureInfo.InvariantCulture, $"{Name}.{partition}");
}
