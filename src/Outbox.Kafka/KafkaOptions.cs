using System.ComponentModel.DataAnnotations;
using Confluent.Kafka;

namespace Outbox.Kafka;

/// <summary>
/// The cluster connection and how outbox messages are produced. Bound from <c>Outbox:Kafka</c> and validated at
/// start-up; shared by the transport and every Kafka consumer of the process.
/// </summary>
public sealed class KafkaOptions
{
    /// <summary>The configuration section these options bind from.</summary>
    public const string SectionName = "Outbox:Kafka";

    /// <summary>
    /// The brokers to bootstrap from, as <c>host:port</c> separated by commas (librdkafka's <c>bootstrap.servers</c>).
    /// <value>The default value is <c>localhost:9092</c>.</value>
    /// </summary>
    [Required(AllowEmptyStrings = false)]
    public string BootstrapServers { get; set; } = "localhost:9092";

    /// <summary>
    /// The client id the brokers see (suffixed with <c>-producer</c> or <c>-consumer-{name}</c>).
    /// <value>The default value is <c>outbox</c>.</value>
    /// </summary>
    [Required(AllowEmptyStrings = false)]
    [StringLength(100, MinimumLength = 1)]
    public string ClientId { get; set; } = "outbox";

    /// <summary>
    /// The protocol to talk to the brokers with (<c>security.protocol</c>).
    /// <value>The default value is <see langword="null"/>: librdkafka's default, plaintext.</value>
    /// </summary>
    public SecurityProtocol? SecurityProtocol { get; set; }

    /// <summary>
    /// The SASL mechanism (<c>sasl.mechanism</c>) when <see cref="SecurityProtocol"/> is SASL.
    /// <value>The default value is <see langword="null"/>: not set.</value>
    /// </summary>
    public SaslMechanism? SaslMechanism { get; set; }

    /// <summary>
    /// The SASL user name (<c>sasl.username</c>).
    /// <value>The default value is <see langword="null"/>: not set.</value>
    /// </summary>
    public string? SaslUsername { get; set; }

    /// <summary>
    /// The SASL password (<c>sasl.password</c>). Never logged.
    /// <value>The default value is <see langword="null"/>: not set.</value>
    /// </summary>
    public string? SaslPassword { get; set; }

    /// <summary>
    /// Further librdkafka settings passed through to every client this package creates (<c>ssl.ca.location</c>,
    /// <c>sasl.oauthbearer.*</c>, ...). Settings the outbox relies on (<c>enable.idempotence</c>, <c>acks</c>,
    /// <c>enable.auto.commit</c>, <c>enable.auto.offset.store</c>) are applied after these and cannot be weakened.
    /// </summary>
    public IDictionary<string, string> Properties { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>
    /// Topics by destination: a message whose <see cref="OutboxMessage.Destination"/> is a key here goes to that topic;
    /// any other goes to the topic named like its destination. Ignored when <see cref="TopicFor"/> is replaced.
    /// </summary>
    public IDictionary<string, string> Topics { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>
    /// The largest payload the transport produces, in bytes. A larger message is rejected with a
    /// <see cref="PermanentDeliveryException"/> and dead-lettered by the dispatcher with the reason. Keep it, plus room
    /// for key and headers, at or below the topic's <c>max.message.bytes</c>; the producer's <c>message.max.bytes</c> is
    /// set to this plus 64 KiB.
    /// <value>The default value is 1,000,000 bytes (below Kafka's default limit of 1 MiB per record batch).</value>
    /// </summary>
    [Range(1, 100 * 1024 * 1024)]
    public int MaxMessageSize { get; set; } = 1_000_000;

    /// <summary>
    /// How long the producer waits for more messages to fill a request (<c>linger.ms</c>). The dispatcher hands a whole
    /// batch over at once, so a short linger is enough to send it in few requests.
    /// <value>The default value is 5 milliseconds.</value>
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:00:10")]
    public TimeSpan Linger { get; set; } = TimeSpan.FromMilliseconds(5);

    /// <summary>
    /// How long a produced message may wait for its delivery report, retries included (<c>message.timeout.ms</c>);
    /// after that the send fails and the dispatcher retries the message.
    /// <value>The default value is 30 seconds.</value>
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:15:00")]
    public TimeSpan DeliveryTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The topic a message is produced to.
    /// <value>The default value is the <see cref="Topics"/> entry for the message's destination, else the destination itself (which <c>Publish</c> defaults to the message type name).</value>
    /// </summary>
    public Func<OutboxMessage, string>? TopicFor { get; set; }

    internal string ResolveTopic(OutboxMessage message) =>
        TopicFor is { } topicFor ? topicFor(message)
        : Topics.TryGetValue(message.Destination, out var topic) ? topic
        : message.Destination;

    /// <summary>The settings shared by producer and consumers: connection and security, then the pass-through properties.</summary>
    internal ClientConfig CreateClientConfig(string clientIdSuffix)
    {
        var config = new ClientConfig(new Dictionary<string, string>(Properties, StringComparer.Ordinal))
        {
            BootstrapServers = BootstrapServers,
            ClientId = $"{ClientId}-{clientIdSuffix}",
        };
        if (SecurityProtocol is { } protocol)
        {
            config.SecurityProtocol = protocol;
        }

        if (SaslMechanism is { } mechanism)
        {
            config.SaslMechanism = mechanism;
        }

        if (SaslUsername is not null)
        {
            config.SaslUsername = SaslUsername;
        }

        if (SaslPassword is not null)
        {
            config.SaslPassword = SaslPassword;
        }

        return config;
    }
}
