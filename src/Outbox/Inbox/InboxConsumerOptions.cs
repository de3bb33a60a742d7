using System.ComponentModel.DataAnnotations;

namespace Outbox;

/// <summary>
/// Options of one consumer, named by the consumer name, bound from <c>Outbox:Consumers:{name}</c> and validated at
/// start-up. They govern what happens when a handler fails.
/// </summary>
public sealed class InboxConsumerOptions
{
    /// <summary>The configuration section under which each consumer's options bind, by consumer name.</summary>
    public const string SectionName = "Outbox:Consumers";

    /// <summary>
    /// How many times a failing handler is tried for one delivery before the message is dead-lettered. The message is
    /// held (not acknowledged) meanwhile, so the retries happen in process, in order.
    /// <value>The default value is 5.</value>
    /// </summary>
    [Range(1, 1_000)]
    public int MaxAttempts { get; set; } = 5;

    /// <summary>
    /// The pause after the first failed attempt; each further failure doubles it, with jitter, up to
    /// <see cref="RetryMaxDelay"/>.
    /// <value>The default value is 200 milliseconds.</value>
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// The longest pause between two attempts of one message.
    /// <value>The default value is 5 seconds.</value>
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan RetryMaxDelay { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// When the inbox store itself cannot be reached (the dead letter cannot be written, or the database is down before
    /// the handler runs), how long to hold the message before giving it back to the broker for redelivery. Nothing is
    /// ever dropped.
    /// <value>The default value is 5 seconds.</value>
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan RequeueDelay { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Decides whether a handler exception is worth retrying; return <see langword="false"/> to dead-letter the message
    /// at once (a validation error that no retry will fix).
    /// <value>The default value retries every exception.</value>
    /// </summary>
    public Func<Exception, bool> ShouldRetry { get; set; } = static _ => true;

    /// <summary>
    /// How many received messages may be processed together in one database transaction, when a transport has several
    /// waiting (RabbitMQ: in one lane). A batch shares one DI scope, one <c>DbContext</c> and one commit, which saves a
    /// transaction (and its disk flush) per message; each handler still runs and saves on its own, in delivery order.
    /// If any message of a batch fails (its handler throws, it comes out of order, the commit fails), the whole batch
    /// is rolled back and its messages are processed again one by one, each with its own retries and dead-lettering:
    /// the handlers of the healthy messages then run a second time, so anything they do outside the transaction must
    /// be safe to repeat (as it must be for retries anyway). 1 processes every message alone.
    /// A batch is only ever made of what has already arrived: a transport never waits for a batch to fill, so when the
    /// consumer keeps up (one message waiting at a time) every message goes alone, at once, and batches grow only under
    /// load, which is when saving a commit per message matters. The inbox rows of a batch are written by one multi-row
    /// <c>INSERT ... ON CONFLICT DO NOTHING RETURNING</c>.
    /// Why 50: one message per transaction (the old default, 1) could not keep up with what one producer database
    /// commits (8 producers on PostgreSQL with fsync on: 375 msg/s delivered against 592 tx/s committed, latency
    /// growing to 26 s); batches of up to 50 with 4 lanes kept pace with the producers (523 msg/s, p99 0.2 s). In the
    /// <c>business</c> benchmark on a loaded machine: 90 msg/s handled for 214 committed with 1, 115 for 117 with 50
    /// (docs/performance.md).
    /// <value>The default value is 50.</value>
    /// </summary>
    [Range(1, 1_000)]
    public int MaxBatchSize { get; set; } = 50;

    /// <summary>
    /// The most inbox dead letters this consumer keeps. Once it holds this many, a message that would be dead-lettered
    /// (poison, or out of attempts) is not written at all (no dead letter, no inbox row) and the transport refuses it
    /// (<see cref="ReceiveDisposition.Reject"/>: HTTP 422, so the sender dead-letters it on its side; RabbitMQ reject
    /// without requeue), counted by <c>outbox.inbox.dead_letters_refused</c> and logged (event 2007). Bounds what bad
    /// input, even from an authenticated sender, can add to the consumer's database; requeue or delete dead letters
    /// through the admin API to make room. Concurrent dead letters may overshoot it by the consumer's concurrency.
    /// <value>The default value is 10,000.</value>
    /// </summary>
    [Range(1, 100_000_000)]
    public int MaxDeadLetters { get; set; } = 10_000;

    /// <summary>
    /// For handlers that enforce order: how long a message that arrived ahead of its predecessor keeps being handed
    /// back before it is processed anyway (the gap is then counted and logged: its predecessor was most likely
    /// dead-lettered upstream).
    /// <value>The default value is 30 seconds.</value>
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan OrderGapTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// For handlers that enforce order: how long a message that arrived ahead of its predecessor is held before it is
    /// handed back to the transport, so that the redelivery does not spin.
    /// <value>The default value is 100 milliseconds.</value>
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:01:00")]
    public TimeSpan OrderRetryDelay { get; set; } = TimeSpan.FromMilliseconds(100);
}
