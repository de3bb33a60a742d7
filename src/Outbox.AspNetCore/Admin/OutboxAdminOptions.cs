using System.ComponentModel.DataAnnotations;

namespace Outbox.AspNetCore;

/// <summary>
/// Options of the admin services (<c>AddOutboxAdmin()</c>): how the dashboard's history is kept and refreshed. Bound
/// from the <c>Outbox:Admin</c> configuration section and validated at start-up.
/// </summary>
public sealed class OutboxAdminOptions
{
    /// <summary>The configuration section these options bind from.</summary>
    public const string SectionName = "Outbox:Admin";

    /// <summary>
    /// The width of one point of the throughput and latency history.
    /// <value>The default value is 5 seconds.</value>
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:10:00")]
    public TimeSpan StatsBucket { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How much history the dashboard shows (kept in memory, per process).
    /// <value>The default value is 15 minutes.</value>
    /// </summary>
    [Range(typeof(TimeSpan), "00:01:00", "1.00:00:00")]
    public TimeSpan StatsWindow { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>
    /// How often the dashboard page polls the stats endpoint.
    /// <value>The default value is 2 seconds.</value>
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.500", "00:05:00")]
    public TimeSpan DashboardRefresh { get; set; } = TimeSpan.FromSeconds(2);
}
