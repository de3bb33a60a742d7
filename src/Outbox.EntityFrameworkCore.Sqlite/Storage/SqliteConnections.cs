using System.Globalization;
using System.Text;
using Microsoft.Data.Sqlite;

namespace Outbox.EntityFrameworkCore.Sqlite;

/// <summary>Connection handling shared by the SQLite outbox store and admin store.</summary>
internal static class SqliteConnections
{
    /// <summary>
    /// Opens a connection and lets SQLite itself wait for the write lock up to the connection's default timeout
    /// (<c>PRAGMA busy_timeout</c>, retried every few milliseconds): left to Microsoft.Data.Sqlite, every collision
    /// with another writer costs a fixed 150 ms sleep.
    /// </summary>
    public static async Task<SqliteConnection> OpenAsync(string connectionString, CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            using var pragma = connection.CreateCommand();
            pragma.CommandText = string.Create(CultureInfo.InvariantCulture, $"PRAGMA busy_timeout = {(long)connection.DefaultTimeout * 1000};");
            await pragma.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>A JSON array of positions, for <c>json_each(@ids)</c>: one parameter however many ids.</summary>
    public static string JsonArray(IReadOnlyCollection<long> values)
    {
        var builder = new StringBuilder(values.Count * 8).Append('[');
        foreach (var value in values)
        {
            if (builder.Length > 1)
            {
                builder.Append(',');
            }

            builder.Append(value.ToString(CultureInfo.InvariantCulture));
        }

        return builder.Append(']').ToString();
    }
}
