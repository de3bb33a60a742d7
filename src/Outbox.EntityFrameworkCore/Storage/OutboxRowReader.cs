using System.Data.Common;
using System.Text.Json;

namespace Outbox.EntityFrameworkCore;

/// <summary>Reads claimed rows into <see cref="OutboxMessage"/>s; shared by the relational stores.</summary>
public static class OutboxRowReader
{
    /// <summary>
    /// The column list a claim must return, in this order (unqualified; prefix each with an alias when needed).
    /// </summary>
    public static readonly IReadOnlyList<string> Columns =
    [
        "id", "message_id", "destination", "message_type", "partition_key", "payload", "content_type", "headers",
        "trace_parent", "created_at", "attempts", "sequence_number",
    ];

    /// <summary><see cref="Columns"/> joined with commas, each prefixed with <paramref name="alias"/> and a dot when given.</summary>
    public static string ColumnList(string? alias = null) =>
        string.Join(", ", alias is null ? Columns : Columns.Select(c => alias + "." + c));

    /// <summary>
    /// The column list a claim returns: <see cref="Columns"/>, except that the payload is returned only when its size
    /// is at most <paramref name="maxPayloadSize"/> (<c>NULL</c> otherwise), followed by the payload's size, so that
    /// a row above the limit is never read into memory. <paramref name="lengthFunction"/> is the provider's byte
    /// length function (<c>octet_length</c> on PostgreSQL, <c>length</c> on SQLite: both read the size without the
    /// value), and <paramref name="alias"/> prefixes each column when given.
    /// </summary>
    public static string ClaimColumnList(string? alias, string lengthFunction, int maxPayloadSize)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(lengthFunction);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxPayloadSize);
        var prefix = alias is null ? string.Empty : alias + ".";
        var size = $"{lengthFunction}({prefix}payload)";
        return string.Join(", ", Columns.Select(c => c == "payload"
            ? $"CASE WHEN {size} <= {maxPayloadSize.ToString(System.Globalization.CultureInfo.InvariantCulture)} THEN {prefix}payload END"
            : prefix + c)) + ", " + size;
    }

    /// <summary>Reads every row of <paramref name="reader"/> (selected with <see cref="Columns"/>, or with
    /// <see cref="ClaimColumnList"/>: then a payload left out is empty, and <see cref="OutboxMessage.PayloadSize"/> is
    /// the stored size), sorted by position.</summary>
    public static async Task<IReadOnlyList<OutboxMessage>> ReadAllAsync(DbDataReader reader, Func<DbDataReader, int, Guid> readGuid, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentNullException.ThrowIfNull(readGuid);
        var messages = new List<OutboxMessage>();
        var hasSize = reader.FieldCount > Columns.Count;
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            var payload = reader.IsDBNull(5) ? [] : (byte[])reader.GetValue(5);
            messages.Add(new OutboxMessage
            {
                Position = reader.GetInt64(0),
                MessageId = readGuid(reader, 1),
                Destination = reader.GetString(2),
                MessageType = reader.GetString(3),
                PartitionKey = reader.IsDBNull(4) ? null : reader.GetString(4),
                Payload = payload,
                PayloadSize = hasSize && !reader.IsDBNull(Columns.Count) ? reader.GetInt64(Columns.Count) : payload.Length,
                ContentType = reader.GetString(6),
                Headers = reader.IsDBNull(7) ? OutboxMessage.EmptyHeaders : ParseHeaders(reader.GetString(7)),
                TraceParent = reader.IsDBNull(8) ? null : reader.GetString(8),
                CreatedAt = new DateTimeOffset(DateTime.SpecifyKind(reader.GetDateTime(9), DateTimeKind.Utc)),
                Attempt = reader.GetInt32(10),
                SequenceNumber = reader.IsDBNull(11) ? null : reader.GetInt64(11),
            });
        }

        // RETURNING gives no order; dispatch and ordering want position order.
        messages.Sort(static (a, b) => a.Position.CompareTo(b.Position));
        return messages;
    }

    private static Dictionary<string, string> ParseHeaders(string json)
    {
        try
        {
            return JsonSerializer.Deserialize(json, OutboxJsonContext.Default.DictionaryStringString) ?? [];
        }
        catch (JsonException)
        {
            // Headers are written by Publish; a row edited by hand into invalid JSON still gets delivered, headerless.
            return [];
        }
    }
}
