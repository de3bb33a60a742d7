using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace Outbox;

/// <summary><c>outbox-backlog</c>: the age of the oldest waiting message against the thresholds.</summary>
internal sealed class OutboxBacklogHealthCheck(OutboxBacklogReader reader, IOptionsMonitor<OutboxHealthCheckOptions> options) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var (reading, failure) = await OutboxHealthReadings.ReadAsync(reader, cancellationToken).ConfigureAwait(false);
        if (failure is not null)
        {
            return failure.Value;
        }

        var o = options.CurrentValue;
        var backlog = reading!.Value;
        var age = backlog.OldestAge;
        var data = OutboxHealthReadings.Data(backlog);
        var summary = $"{backlog.Pending} message(s) waiting; the oldest is {OutboxHealthReadings.Format(age)} old.";
        if (age >= o.PendingAgeUnhealthy)
        {
            return HealthCheckResult.Unhealthy(
                $"{summary} Limit {OutboxHealthReadings.Format(o.PendingAgeUnhealthy)}: the dispatcher is not keeping up or not delivering.", data: data);
        }

        if (age >= o.PendingAgeDegraded)
        {
            return HealthCheckResult.Degraded($"{summary} Limit {OutboxHealthReadings.Format(o.PendingAgeDegraded)}.", data: data);
        }

        return HealthCheckResult.Healthy(summary, data);
    }
}
