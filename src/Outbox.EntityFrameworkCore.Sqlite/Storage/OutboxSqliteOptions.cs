namespace Outbox.EntityFrameworkCore.Sqlite;

/// <summary>Options of the SQLite outbox store.</summary>
public sealed class OutboxSqliteOptions
{
    /// <summary>
    /// The connection string the dispatcher uses.
    /// <value>The default value is <see langword="null"/>: the DbContext's connection string.</value>
    /// </summary>
    public string? ConnectionString { get; set; }

    /// <summary>
    /// Whether the store switches the database to write-ahead logging (<c>PRAGMA journal_mode=WAL</c>) on first use,
    /// so that readers and the single writer do not block each other. The setting persists in the database file.
    /// <value>The default value is <see langword="true"/>.</value>
    /// </summary>
    public bool UseWriteAheadLog { get; set; } = true;
}
