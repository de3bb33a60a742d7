namespace Outbox.EntityFrameworkCore.Sqlite;

/// <summary>Options of the SQLite outbox store.</summary>
public sealed class OutboxSqliteOptions
{
    /// <summary>
    /// The connection string the dispatcher uses.
    /// <value>The default value is <see langword="null"/>: the DbContext's connection string.</value>
    /// </summary>
    public string? ConnectionString { get; set; }

    /// <summary>A copy of these options for the database of <paramref name="connectionString"/> (a tenant's).</summary>
    internal OutboxSqliteOptions ForDatabase(string connectionString)
    {
        var copy = (OutboxSqliteOptions)MemberwiseClone();
        copy.ConnectionString = connectionString;
        return copy;
    }

    /// <summary>
    /// Whether the store switches the database to write-ahead logging (<c>PRAGMA journal_mode=WAL</c>) on first use,
    /// so that readers and the single writer do not block each other. The setting persists in the database file.
    /// <value>The default value is <see langword="true"/>.</value>
    /// </summary>
    public bool UseWriteAheadLog { get; set; } = true;
}
