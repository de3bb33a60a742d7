using System.ComponentModel.DataAnnotations;

namespace Outbox.RabbitMQ;

/// <summary>
/// The broker connection, the topology to declare, and how outbox messages are published. Bound from
/// <c>Outbox:RabbitMQ</c> and validated at start-up; shared by the transport and every RabbitMQ consumer of the process.
/// </summary>
public sealed class RabbitMqOptions
{
    /// <summary>The configuration section these options bind from.</summary>
    public const string SectionName = "Outbox:RabbitMQ";

    /// <summary>
    /// The broker's <c>amqp://</c> or <c>amqps://</c> URI, with credentials and virtual host.
    /// <value>The default value is <c>amqp://guest:guest@localhost:5672/</c>.</value>
    /// </summary>
    [Required]
    public Uri Uri { get; set; } = new("amqp://guest:guest@localhost:5672/");

    /// <summary>
    /// The name connections show in the management UI (suffixed with <c>-publisher</c> or <c>-consumer-{name}</c>).
    /// <value>The default value is <c>outbox</c>.</value>
    /// </summary>
    [Required]
    [StringLength(100, MinimumLength = 1)]
    public string ClientName { get; set; } = "outbox";

    /// <summary>
    /// How many channels the transport publishes on. Sends of a batch are spread over them and published concurrently;
    /// their confirms are awaited together.
    /// <value>The default value is 2.</value>
    /// </summary>
    [Range(1, 64)]
    public int PublishChannels { get; set; } = 2;

    /// <summary>
    /// The largest payload the transport publishes, in bytes. A larger message is rejected with a
    /// <see cref="PermanentDeliveryException"/> and dead-lettered by the dispatcher with the reason. Keep it at or below
    /// the broker's <c>max_message_size</c>.
    /// <value>The default value is 16 MiB (RabbitMQ 4's default limit).</value>
    /// </summary>
    [Range(1, 512 * 1024 * 1024)]
    public int MaxMessageSize { get; set; } = 16 * 1024 * 1024;

    /// <summary>
    /// Publishes with the <c>mandatory</c> flag: a message no queue is bound for comes back (<c>basic.return</c>) and the
    /// send fails with a <see cref="RabbitMqUnroutableException"/>, so the dispatcher retries it instead of the broker
    /// silently dropping it.
    /// <value>The default value is <see langword="true"/>.</value>
    /// </summary>
    public bool Mandatory { get; set; } = true;

    /// <summary>
    /// The shortest pause between two connection attempts after one failed. Sends made meanwhile fail at once (and are
    /// retried by the dispatcher) instead of each waiting for a connection timeout.
    /// <value>The default value is 2 seconds.</value>
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:05:00")]
    public TimeSpan ReconnectInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// How long opening a connection may take.
    /// <value>The default value is 10 seconds.</value>
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:05:00")]
    public TimeSpan ConnectionTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Whether every new connection declares <see cref="Exchanges"/> and <see cref="Queues"/> (with their bindings).
    /// Declaring is idempotent; turn it off when the topology is managed elsewhere.
    /// <value>The default value is <see langword="true"/>.</value>
    /// </summary>
    public bool DeclareTopology { get; set; } = true;

    /// <summary>Exchanges to declare (durable by default).</summary>
    public IList<RabbitMqExchangeDefinition> Exchanges { get; } = new List<RabbitMqExchangeDefinition>();

    /// <summary>Queues to declare, with their bindings (durable by default).</summary>
    public IList<RabbitMqQueueDefinition> Queues { get; } = new List<RabbitMqQueueDefinition>();

    /// <summary>
    /// Logical queues split into partition queues with a single active consumer each, so that several consumer processes
    /// share the work while each partition key stays in order (see <see cref="Partition"/> and docs/rabbitmq.md).
    /// </summary>
    public IList<RabbitMqPartitionedQueueDefinition> PartitionedQueues { get; } = new List<RabbitMqPartitionedQueueDefinition>();

    /// <summary>
    /// The exchange a message is published to.
    /// <value>The default value is the message's <see cref="OutboxMessage.Destination"/> (which <c>Publish</c> defaults to the message type name).</value>
    /// </summary>
    public Func<OutboxMessage, string> ExchangeFor { get; set; } = static m => m.Destination;

    /// <summary>
    /// The routing key a message is published with. Not used for the exchange of a partitioned queue
    /// (<see cref="PartitionedQueues"/>): there the routing key is the message's partition number.
    /// <value>The default value is the message's <see cref="OutboxMessage.MessageType"/>.</value>
    /// </summary>
    public Func<OutboxMessage, string> RoutingKeyFor { get; set; } = static m => m.MessageType;

    /// <summary>Adds a durable exchange to declare.</summary>
    /// <returns>These options, for chaining.</returns>
    public RabbitMqOptions AddExchange(string name, string type = "topic")
    {
        Exchanges.Add(new RabbitMqExchangeDefinition { Name = name, Type = type });
        return this;
    }

    /// <summary>Adds a durable queue to declare, bound to <paramref name="exchange"/> with <paramref name="routingKey"/>.</summary>
    /// <returns>These options, for chaining.</returns>
    public RabbitMqOptions AddQueue(string name, string exchange, string routingKey = "#")
    {
        Queues.Add(new RabbitMqQueueDefinition { Name = name, Bindings = { new RabbitMqBinding { Exchange = exchange, RoutingKey = routingKey } } });
        return this;
    }

    /// <summary>
    /// Declares the logical queue <paramref name="name"/> as <paramref name="partitions"/> queues <c>{name}.0</c> to
    /// <c>{name}.{partitions - 1}</c>, each with a single active consumer, bound to the direct exchange
    /// <paramref name="exchange"/> (by default named <paramref name="name"/>). Messages published to that exchange go to the
    /// partition of their partition key (<see cref="RabbitMqPartitioning"/>); a consumer of queue <paramref name="name"/>
    /// consumes all partitions. Declare it the same way in the publishing and in the consuming processes.
    /// </summary>
    /// <returns>These options, for chaining.</returns>
    public RabbitMqOptions Partition(string name, int partitions, string? exchange = null)
    {
        PartitionedQueues.Add(new RabbitMqPartitionedQueueDefinition { Name = name, Partitions = partitions, Exchange = exchange });
        return this;
    }

    /// <summary>The partitioned queue a consumer of <paramref name="queue"/> consumes, if it is one.</summary>
    internal RabbitMqPartitionedQueueDefinition? FindPartitionedQueue(string queue) =>
        PartitionedQueues.FirstOrDefault(p => string.Equals(p.Name, queue, StringComparison.Ordinal));
}
