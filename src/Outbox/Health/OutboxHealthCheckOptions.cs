using System.ComponentModel.DataAnnotations;

namespace Outbox;

/// <summary>
/// Thresholds of the outbox health checks (<c>AddOutboxHealthChecks()</c>), bound from the <c>Outbox:HealthChecks</c>
/// configuration section and validated at start-up.
/// </summary>
public sealed class OutboxHealthCheckOptions
{
    /// <summary>The configuration section these options bind from.</summary>
    public const string SectionName = "Outbox:HealthChecks";

    /// <summary>
    /// <c>outbox-backlog</c> is Degraded when the oldest waiting message is at least this old.
    /// <value>The default value is 1 minute.</value>
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "7.00:00:00")]
    public TimeSpan PendingAgeDegraded { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// <c>outbox-backlog</c> is Unhealthy when the oldest waiting message is at least this old.
    /// <value>The default value is 5 minutes.</value>
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "7.00:00:00")]
    public TimeSpan PendingAgeUnhealthy { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// <c>outbox-dead-letters</c> is Degraded when the dead-letter table holds at least this many messages; 0 turns the
    /// rule off.
    /// <value>The default value is 1: any dead letter needs a look.</value>
    /// </summary>
    [Range(0L, long.MaxValue)]
    public long DeadLettersDegraded { get; set; } = 1;

    /// <summary>
    /// <c>outbox-dead-letters</c> is Unhealthy when the dead-letter table holds at least this many messages; 0 turns the
    /// rule off.
    /// <value>The default value is 0: off.</value>
    /// </summary>
    [Range(0L, long.MaxValue)]
    public long DeadLettersUnhealthy { get; set; }

    /// <summary>
    /// <c>outbox-dead-letters</c> is Degraded for this long after a reading showed more dead letters than the reading
    /// before it (new messages are dying now), whatever the count; zero turns the rule off.
    /// <value>The default value is 15 minutes.</value>
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "7.00:00:00")]
    public TimeSpan DeadLetterGrowthWindow { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>
    /// <c>outbox-dispatcher</c> is Degraded when a dispatcher loop has not completed a claim for this long. Must be
    /// longer than the dispatcher's <see cref="OutboxDispatcherOptions.PollingInterval"/>.
    /// <value>The default value is 1 minute.</value>
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan DispatcherDegradedAfter { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// <c>outbox-dispatcher</c> is Unhealthy when a dispatcher loop has not completed a claim for this long.
    /// <value>The default value is 5 minutes.</value>
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan DispatcherUnhealthyAfter { get; set; } = TimeSpan.FromMinutes(5);
}
