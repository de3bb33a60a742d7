using System.Globalization;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Outbox;

/// <summary>Shared pieces of the backlog-based health checks.</summary>
internal static class OutboxHealthReadings
{
    public static async Task<(OutboxBacklog? Reading, HealthCheckResult? Failure)> ReadAsync(OutboxBacklogReader reader, CancellationToken cancellationToken)
    {
        try
        {
            var reading = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            return reading is null
                ? (null, HealthCheckResult.Unhealthy(
                    "No outbox store reports the backlog in this process: call AddOutbox() with UsePostgreSql<TContext>() or UseSqlite<TContext>()."))
                : (reading, null);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex)
        {
            return (null, HealthCheckResult.Unhealthy("The outbox backlog cannot be read (is the database reachable?).", ex));
        }
    }

    public static Dictionary<string, object> Data(OutboxBacklog backlog)
    {
        var data = new Dictionary<string, object>
        {
            ["pending"] = backlog.Pending,
            ["oldest_pending_age_seconds"] = Math.Round(backlog.OldestAge.TotalSeconds, 3),
            ["dead_letters"] = backlog.DeadLetters,
            ["read_at"] = backlog.ReadAt,
        };
        if (backlog.OldestCreatedAt is { } oldest)
        {
            data["oldest_pending_created_at"] = oldest;
        }

        return data;
    }

    public static string Format(TimeSpan value) => value.TotalSeconds < 120
        ? string.Create(CultureInfo.InvariantCulture, $"{value.TotalSeconds:0.#} s")
        : value.TotalMinutes < 120
            ? string.Create(CultureInfo.InvariantCulture, $"{value.TotalMinutes:0.#} min")
            : string.Create(CultureInfo.InvariantCulture, $"{value.TotalHours:0.#} h");
}
