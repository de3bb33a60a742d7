using System.ComponentModel.DataAnnotations;

namespace Outbox.ActiveMQ;

/// <summary>
/// Options of one ActiveMQ consumer, named by the consumer name, bound from <c>Outbox:ActiveMQ:Consumers:{name}</c>
/// and validated at start-up.
/// </summary>
public sealed class ActiveMqConsumerOptions
{
    /// <summary>The configuration section under which each consumer's options bind, by consumer name.</summary>
    public const string SectionName = "Outbox:ActiveMQ:Consumers";

    /// <summary>
    /// What to subscribe to: a queue (<c>orders</c> or <c>/queue/orders</c>). A plain topic subscription (<c>/topic/...</c>)
    /// only receives what is sent while it is connected; for a durable fan-out use ActiveMQ's virtual topics (send to
    /// <c>/topic/VirtualTopic.orders</c>, consume <c>/queue/Consumer.payments.VirtualTopic.orders</c>).
    /// </summary>
    [Required(AllowEmptyStrings = false)]
    [StringLength(1000)]
    public string Destination { get; set; } = "";

    /// <summary>
    /// How many unacknowledged messages the broker sends ahead (<c>activemq.prefetchSize</c>). With inbox batching, allow
    /// at least <see cref="ConcurrentMessages"/> × <c>InboxConsumerOptions.MaxBatchSize</c>.
    /// <value>The default value is 32.</value>
    /// </summary>
    [Range(1, 65_535)]
    public int PrefetchSize { get; set; } = 32;

    /// <summary>
    /// How many messages are processed at the same time. Messages are spread over this many lanes by partition key:
    /// messages of one key are processed one after another, in the order the broker delivered them, while different keys
    /// proceed in parallel (unkeyed messages go to any lane).
    /// <value>The default value is 1.</value>
    /// </summary>
    [Range(1, 256)]
    public int ConcurrentMessages { get; set; } = 1;

    /// <summary>
    /// On shutdown (or a lost connection), how long messages being processed may still finish and be acknowledged;
    /// what is still running then is cancelled and rolled back, and the broker redelivers it.
    /// <value>The default value is 10 seconds.</value>
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(10);
}
