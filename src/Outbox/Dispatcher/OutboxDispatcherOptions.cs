using System.ComponentModel.DataAnnotations;

namespace Outbox;

/// <summary>
/// Options of the dispatcher, bound from the <c>Outbox:Dispatcher</c> configuration section (a named outbox's from
/// <c>Outbox:Outboxes:{name}:Dispatcher</c>) and validated at start-up.
/// </summary>
public sealed class OutboxDispatcherOptions
{
    /// <summary>The configuration section these options bind from.</summary>
    public const string SectionName = "Outbox:Dispatcher";

    /// <summary>
    /// Whether this process runs the dispatcher. Turn it off in a process that only publishes.
    /// <value>The default value is <see langword="true"/>.</value>
    /// </summary>
    public bool Enabled { get; set; } = true;

    /// <summary>
    /// How many rows one claim takes at most.
    /// <value>The default value is 200.</value>
    /// </summary>
    [Range(1, 10_000)]
    public int BatchSize { get; set; } = 200;

    /// <summary>
    /// How many claim-send-acknowledge loops this process runs side by side.
    /// <value>The default value is 2.</value>
    /// </summary>
    [Range(1, 64)]
    public int Concurrency { get; set; } = 2;

    /// <summary>
    /// How long a claim holds its rows. A dispatcher that dies releases nothing; its rows are claimed again when this
    /// expires. Must be longer than <see cref="SendTimeout"/>.
    /// <value>The default value is 30 seconds.</value>
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long one transport send may take before it counts as failed.
    /// <value>The default value is 10 seconds.</value>
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:30:00")]
    public TimeSpan SendTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The longest an idle loop waits before looking again when nothing wakes it. After finding work by polling a loop
    /// looks again after a sixteenth of this, doubling the wait at every empty look up to this value; after work a
    /// wake-up signal announced it waits for the next signal, looking again after this value at the latest.
    /// <value>The default value is 1 second.</value>
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "00:05:00")]
    public TimeSpan PollingInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How many delivery attempts a message gets before it is moved to the dead-letter table. A claim whose lease
    /// expires (the dispatcher crashed mid-send) counts as an attempt, so a message that kills its dispatcher cannot
    /// loop forever either.
    /// <value>The default value is 10.</value>
    /// </summary>
    [Range(1, 1_000)]
    public int MaxAttempts { get; set; } = 10;

    /// <summary>
    /// What happens to a partition key's later messages when one of its messages is dead-lettered.
    /// <value>The default value is <see cref="PartitionDeadLetterPolicy.Continue"/>.</value>
    /// </summary>
    [EnumDataType(typeof(PartitionDeadLetterPolicy))]
    public PartitionDeadLetterPolicy AfterDeadLetter { get; set; } = PartitionDeadLetterPolicy.Continue;

    /// <summary>
    /// The backoff after the first failed attempt; each further failure doubles it, with jitter, up to
    /// <see cref="RetryMaxDelay"/>.
    /// <value>The default value is 1 second.</value>
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// The longest backoff between two attempts of one message.
    /// <value>The default value is 5 minutes.</value>
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "1.00:00:00")]
    public TimeSpan RetryMaxDelay { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// On shutdown, how long in-flight sends may still finish; what has not finished by then is released.
    /// <value>The default value is 10 seconds.</value>
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How often the backlog (pending count, oldest age, dead letters) is read for the gauges and health checks.
    /// <value>The default value is 10 seconds.</value>
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan BacklogRefreshInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The largest payload <c>Publish</c> accepts, in bytes. It is checked when the message is added to the unit of
    /// work, before anything is written or committed: a larger payload throws an <see cref="ArgumentException"/> that
    /// names this option, so an oversized message never reaches the table (where the dispatcher would have to load it
    /// whole to learn that no transport takes it). A row above it that is in the table anyway (written by SQL, or the
    /// limit lowered since) is dead-lettered by the dispatcher with its size and this limit in the reason, without its
    /// payload being read: the claim returns the payload's length, and the payload only when within the limit.
    /// Keep it at or below the transport's limit.
    /// <value>The default value is 4 MiB (the HTTP transport's default limit; RabbitMQ's is 16 MiB).</value>
    /// </summary>
    [Range(1, 512 * 1024 * 1024)]
    public int MaxPayloadSize { get; set; } = 4 * 1024 * 1024;

    /// <summary>
    /// The longest pause after an unexpected error (database unreachable) before the loop tries again. The pause
    /// starts at 100 ms, doubles with each consecutive failure up to this value (with jitter: between half of it and
    /// all of it), and starts over as soon as a statement succeeds. Kept short so that dispatching resumes within
    /// about a second of the database accepting connections again (after a restart or a failover); each try is one
    /// connection attempt per dispatcher loop, which a recovering server takes easily.
    /// <value>The default value is 1 second.</value>
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:10:00")]
    public TimeSpan ErrorMaxDelay { get; set; } = TimeSpan.FromSeconds(1);
}
