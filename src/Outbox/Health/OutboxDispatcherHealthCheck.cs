using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace Outbox;

/// <summary>
/// <c>outbox-dispatcher</c>: how long since the stalest dispatcher loop of this process completed a claim. A loop that
/// never beat counts from <see cref="OutboxDispatcherHeartbeat.StartedAt"/>.
/// </summary>
internal sealed class OutboxDispatcherHealthCheck(
    OutboxDispatcherHeartbeat heartbeat,
    OutboxDispatcherOptions dispatcher,
    IOptionsMonitor<OutboxHealthCheckOptions> options,
    TimeProvider timeProvider) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (!dispatcher.Enabled)
        {
            return Task.FromResult(HealthCheckResult.Healthy("The dispatcher is disabled in this process."));
        }

        var o = options.CurrentValue;
        var now = timeProvider.GetUtcNow();
        var loops = heartbeat.Loops;
        var expected = dispatcher.Concurrency;
        var stalest = loops.Count < expected || loops.Count == 0 ? heartbeat.StartedAt : loops.Values.Min();
        var silence = now - stalest;
        if (silence < TimeSpan.Zero)
        {
            silence = TimeSpan.Zero;
        }

        var data = new Dictionary<string, object>
        {
            ["loops_expected"] = expected,
            ["loops_seen"] = loops.Count,
            ["stalest_loop_silence_seconds"] = Math.Round(silence.TotalSeconds, 3),
        };
        if (heartbeat.LastBeat is { } last)
        {
            data["last_beat"] = last;
        }

        var summary = loops.Count < expected
            ? $"{loops.Count} of {expected} dispatcher loop(s) have completed a claim since {stalest:O} ({OutboxHealthReadings.Format(silence)} ago)."
            : $"The stalest of {expected} dispatcher loop(s) last completed a claim {OutboxHealthReadings.Format(silence)} ago.";
        if (silence >= o.DispatcherUnhealthyAfter)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy(
                $"{summary} Limit {OutboxHealthReadings.Format(o.DispatcherUnhealthyAfter)}: a loop is hung or cannot reach the database.", data: data));
        }

        if (silence >= o.DispatcherDegradedAfter)
        {
            return Task.FromResult(HealthCheckResult.Degraded($"{summary} Limit {OutboxHealthReadings.Format(o.DispatcherDegradedAfter)}.", data: data));
        }

        return Task.FromResult(HealthCheckResult.Healthy(summary, data));
    }
}
