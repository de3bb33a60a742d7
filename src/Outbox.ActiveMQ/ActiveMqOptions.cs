using System.ComponentModel.DataAnnotations;

namespace Outbox.ActiveMQ;

/// <summary>
/// The STOMP connection to ActiveMQ (Classic or Artemis) and how outbox messages are sent. Bound from
/// <c>Outbox:ActiveMQ</c> and validated at start-up; shared by the transport and every ActiveMQ consumer of the process.
/// </summary>
public sealed class ActiveMqOptions
{
    /// <summary>The configuration section these options bind from.</summary>
    public const string SectionName = "Outbox:ActiveMQ";

    /// <summary>
    /// The broker's STOMP address: <c>stomp://host:port</c>, or <c>stomp+ssl://host:port</c> for TLS (the server
    /// certificate is checked against the system's trust store and the host name). Credentials may be given as
    /// <c>stomp://user:password@host:port</c> or in <see cref="Login"/> and <see cref="Passcode"/>.
    /// <value>The default value is <c>stomp://localhost:61613</c>.</value>
    /// </summary>
    [Required]
    public Uri Uri { get; set; } = new("stomp://localhost:61613");

    /// <summary>
    /// The user name (<c>login</c> header); overrides the URI's.
    /// <value>The default value is <see langword="null"/>: the URI's, else none.</value>
    /// </summary>
    public string? Login { get; set; }

    /// <summary>
    /// The password (<c>passcode</c> header); overrides the URI's.
    /// <value>The default value is <see langword="null"/>: the URI's, else none.</value>
    /// </summary>
    public string? Passcode { get; set; }

    /// <summary>
    /// The virtual host (<c>host</c> header of CONNECT).
    /// <value>The default value is <see langword="null"/>: the URI's host name.</value>
    /// </summary>
    public string? VirtualHost { get; set; }

    /// <summary>
    /// The heart-beat interval asked for both ways; a connection silent for three negotiated intervals is taken as
    /// lost. Zero turns heart-beats off.
    /// <value>The default value is 10 seconds.</value>
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:05:00")]
    public TimeSpan HeartBeat { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How long opening a connection (TCP, TLS, CONNECT) may take.
    /// <value>The default value is 10 seconds.</value>
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:05:00")]
    public TimeSpan ConnectionTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The shortest pause between two connection attempts after one failed. Sends made meanwhile fail at once (and are
    /// retried by the dispatcher) instead of each waiting for a connection timeout.
    /// <value>The default value is 2 seconds.</value>
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:05:00")]
    public TimeSpan ReconnectInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// How long a send waits for the broker's <c>RECEIPT</c> (the broker has stored the persistent message). After it the
    /// send fails, the connection is replaced, and the dispatcher retries the message.
    /// <value>The default value is 30 seconds.</value>
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:10:00")]
    public TimeSpan ReceiptTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How many connections the transport sends on. Sends of a batch are spread over them and pipelined on each (all
    /// written, then their receipts awaited together). ActiveMQ Classic handles one connection's frames one after
    /// another and, for persistent messages, answers each receipt after its journal write: several connections let the
    /// broker store several messages per disk sync.
    /// <value>The default value is 4.</value>
    /// </summary>
    [Range(1, 64)]
    public int PublishConnections { get; set; } = 4;

    /// <summary>
    /// The largest payload the transport sends, in bytes. A larger message is rejected with a
    /// <see cref="PermanentDeliveryException"/> and dead-lettered by the dispatcher with the reason. Keep it below the
    /// broker's STOMP <c>maxFrameSize</c> (ActiveMQ Classic: 100 MB by default).
    /// <value>The default value is 16 MiB.</value>
    /// </summary>
    [Range(1, 100 * 1024 * 1024)]
    public int MaxMessageSize { get; set; } = 16 * 1024 * 1024;

    /// <summary>
    /// The largest frame read from the broker, in bytes; a larger one is a protocol error that closes the connection.
    /// Keep it above the broker's own limit, so that every message the broker accepted can be read (and, if it is
    /// poison, dead-lettered by the inbox) instead of being redelivered for ever.
    /// <value>The default value is 128 MiB.</value>
    /// </summary>
    [Range(64 * 1024, 1024 * 1024 * 1024)]
    public int MaxFrameSize { get; set; } = 128 * 1024 * 1024;

    /// <summary>
    /// The STOMP destination a message is sent to.
    /// <value>The default value is the message's <see cref="OutboxMessage.Destination"/> as it is when it starts with
    /// <c>/queue/</c> or <c>/topic/</c>, else <c>/queue/</c> followed by it.</value>
    /// </summary>
    public Func<OutboxMessage, string> DestinationFor { get; set; } = static m => ActiveMqDestinations.Normalize(m.Destination);
}

/// <summary>STOMP destination names as ActiveMQ (Classic and Artemis) understands them.</summary>
public static class ActiveMqDestinations
{
    /// <summary>The prefix of a queue destination.</summary>
    public const string QueuePrefix = "/queue/";

    /// <summary>The prefix of a topic destination.</summary>
    public const string TopicPrefix = "/topic/";

    /// <summary>
    /// Returns <paramref name="name"/> as it is when it starts with <c>/queue/</c> or <c>/topic/</c>, else as a queue
    /// (<c>/queue/{name}</c>).
    /// </summary>
    public static string Normalize(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return name.StartsWith(QueuePrefix, StringComparison.Ordinal) || name.StartsWith(TopicPrefix, StringComparison.Ordinal)
            ? name
            : QueuePrefix + name;
    }
}
