using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace Outbox;

/// <summary>
/// <c>outbox-dead-letters</c>: the dead-letter count against the thresholds, and whether it grew between two readings
/// within <see cref="OutboxHealthCheckOptions.DeadLetterGrowthWindow"/>.
/// </summary>
internal sealed class OutboxDeadLetterHealthCheck(OutboxBacklogReader reader, IOptionsMonitor<OutboxHealthCheckOptions> options, TimeProvider timeProvider) : IHealthCheck
{
    private readonly Lock _gate = new();
    private OutboxBacklog? _previous;
    private DateTimeOffset? _grewAt;
    private long _grewFrom;

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var (reading, failure) = await OutboxHealthReadings.ReadAsync(reader, cancellationToken).ConfigureAwait(false);
        if (failure is not null)
        {
            return failure.Value;
        }

        var o = options.CurrentValue;
        var backlog = reading!.Value;
        DateTimeOffset? grewAt;
        long grewFrom;
        lock (_gate)
        {
            if (_previous is { } previous && backlog.ReadAt > previous.ReadAt && backlog.DeadLetters > previous.DeadLetters)
            {
                _grewAt = timeProvider.GetUtcNow();
                _grewFrom = previous.DeadLetters;
            }

            if (_previous is null || backlog.ReadAt > _previous.Value.ReadAt)
            {
                _previous = backlog;
            }

            grewAt = _grewAt;
            grewFrom = _grewFrom;
        }

        var data = OutboxHealthReadings.Data(backlog);
        var count = backlog.DeadLetters;
        var summary = $"{count} dead letter(s).";
        if (o.DeadLettersUnhealthy > 0 && count >= o.DeadLettersUnhealthy)
        {
            return HealthCheckResult.Unhealthy($"{summary} Limit {o.DeadLettersUnhealthy}: inspect and requeue or purge them.", data: data);
        }

        if (o.DeadLetterGrowthWindow > TimeSpan.Zero && grewAt is { } at && timeProvider.GetUtcNow() - at < o.DeadLetterGrowthWindow)
        {
            data["dead_letters_grew_at"] = at;
            return HealthCheckResult.Degraded($"{summary} Grew from {grewFrom} at {at:O}: messages are dying now.", data: data);
        }

        if (o.DeadLettersDegraded > 0 && count >= o.DeadLettersDegraded)
        {
            return HealthCheckResult.Degraded($"{summary} Limit {o.DeadLettersDegraded}: inspect and requeue or purge them.", data: data);
        }

        return HealthCheckResult.Healthy(summary, data);
    }
}
