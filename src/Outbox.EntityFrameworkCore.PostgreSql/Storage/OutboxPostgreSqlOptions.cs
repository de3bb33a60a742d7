namespace Outbox.EntityFrameworkCore.PostgreSql;

/// <summary>Options of the PostgreSQL outbox store.</summary>
public sealed class OutboxPostgreSqlOptions
{
    /// <summary>
    /// The connection string the dispatcher uses. Set it when the DbContext is configured with a data source or a
    /// connection rather than a connection string, or to give the dispatcher its own pool settings.
    /// <value>The default value is <see langword="null"/>: the DbContext's connection string.</value>
    /// </summary>
    public string? ConnectionString { get; set; }

    /// <summary>
    /// Whether committed publishes wake dispatchers in other processes through <c>LISTEN</c>/<c>NOTIFY</c> (sent after
    /// the commit, from a connection of its own). Without it, other processes find messages at their next poll.
    /// <value>The default value is <see langword="true"/>.</value>
    /// </summary>
    public bool Notifications { get; set; } = true;

    /// <summary>
    /// The shortest time between two <c>NOTIFY</c>s from one process: commits in between share one notification.
    /// <value>The default value is 5 milliseconds.</value>
    /// </summary>
    [System.ComponentModel.DataAnnotations.Range(typeof(TimeSpan), "00:00:00", "00:00:10")]
    public TimeSpan NotifyInterval { get; set; } = TimeSpan.FromMilliseconds(5);
}
