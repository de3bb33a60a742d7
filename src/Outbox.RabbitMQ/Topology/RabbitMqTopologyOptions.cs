namespace Outbox.RabbitMQ;

/// <summary>An exchange declared by <see cref="RabbitMqOptions.Exchanges"/>.</summary>
public sealed class RabbitMqExchangeDefinition
{
    /// <summary>The exchange name.</summary>
    public string Name { get; set; } = "";

    /// <summary>
    /// The exchange type: <c>topic</c>, <c>direct</c>, <c>fanout</c> or <c>headers</c>.
    /// <value>The default value is <c>topic</c>.</value>
    /// </summary>
    public string Type { get; set; } = "topic";

    /// <summary>
    /// Whether the exchange survives a broker restart.
    /// <value>The default value is <see langword="true"/>.</value>
    /// </summary>
    public bool Durable { get; set; } = true;
}

/// <summary>A queue declared by <see cref="RabbitMqOptions.Queues"/>.</summary>
public sealed class RabbitMqQueueDefinition
{
    /// <summary>The queue name.</summary>
    public string Name { get; set; } = "";

    /// <summary>
    /// Whether the queue (and the persistent messages in it) survives a broker restart.
    /// <value>The default value is <see langword="true"/>.</value>
    /// </summary>
    public bool Durable { get; set; } = true;

    /// <summary>
    /// The queue type (<c>x-queue-type</c>): <c>classic</c> or <c>quorum</c> (replicated; recommended on a cluster).
    /// <value>The default value is <see langword="null"/>: the broker's default.</value>
    /// </summary>
    public string? QueueType { get; set; }

    /// <summary>
    /// The broker dead-letter exchange (<c>x-dead-letter-exchange</c>) for messages the broker itself drops (expired,
    /// over length). Consumer failures do not go there: the inbox writes them to its dead-letter table.
    /// <value>The default value is <see langword="null"/>: none.</value>
    /// </summary>
    public string? DeadLetterExchange { get; set; }

    /// <summary>
    /// The routing key of broker dead letters (<c>x-dead-letter-routing-key</c>).
    /// <value>The default value is <see langword="null"/>: the message's own routing key.</value>
    /// </summary>
    public string? DeadLetterRoutingKey { get; set; }

    /// <summary>The bindings of this queue.</summary>
    public IList<RabbitMqBinding> Bindings { get; } = new List<RabbitMqBinding>();
}

/// <summary>Binds a queue to an exchange.</summary>
public sealed class RabbitMqBinding
{
    /// <summary>The exchange to bind to.</summary>
    public string Exchange { get; set; } = "";

    /// <summary>
    /// The binding key (a pattern for topic exchanges).
    /// <value>The default value is <c>#</c>: every routing key.</value>
    /// </summary>
    public string RoutingKey { get; set; } = "#";
}
