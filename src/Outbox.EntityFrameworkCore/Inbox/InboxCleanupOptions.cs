using System.ComponentModel.DataAnnotations;

namespace Outbox.EntityFrameworkCore;

/// <summary>
/// Retention of the inbox table, bound from <c>Outbox:Inbox:Cleanup</c> and validated at start-up. A message id must
/// stay in the inbox for as long as the message can still arrive again, so <see cref="RetentionPeriod"/> must exceed
/// the longest redelivery horizon: the publisher's outbox lease and retries (<c>MaxAttempts</c> ×
/// <c>RetryMaxDelay</c> + <c>LeaseDuration</c>), plus the time a message can sit in the broker (queue backlog, a
/// consumer down) before it is delivered again.
/// </summary>
public sealed class InboxCleanupOptions
{
    /// <summary>The configuration section these options bind from.</summary>
    public const string SectionName = "Outbox:Inbox:Cleanup";

    /// <summary>
    /// Whether this process deletes old inbox rows. Run it in at least one consumer process per database.
    /// <value>The default value is <see langword="true"/>.</value>
    /// </summary>
    public bool Enabled { get; set; } = true;

    /// <summary>
    /// How long an inbox row is kept after its message was received; older rows are deleted.
    /// <value>The default value is 7 days.</value>
    /// </summary>
    [Range(typeof(TimeSpan), "00:01:00", "3650.00:00:00")]
    public TimeSpan RetentionPeriod { get; set; } = TimeSpan.FromDays(7);

    /// <summary>
    /// How often the cleanup runs.
    /// <value>The default value is 10 minutes.</value>
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan Interval { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// How many rows one delete statement removes at most; small batches keep each transaction (and on SQLite the write
    /// lock) short.
    /// <value>The default value is 1000.</value>
    /// </summary>
    [Range(1, 100_000)]
    public int BatchSize { get; set; } = 1000;

    /// <summary>
    /// The pause between two batches of one run, leaving room to the consumers' own writes.
    /// <value>The default value is 20 milliseconds.</value>
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:01:00")]
    public TimeSpan BatchPause { get; set; } = TimeSpan.FromMilliseconds(20);
}
