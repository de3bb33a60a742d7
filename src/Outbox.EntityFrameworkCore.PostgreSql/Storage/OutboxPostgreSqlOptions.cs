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
}
