using System.Data.Common;
using System.Text.Json;

namespace Outbox.EntityFrameworkCore;

/// <summary>Reads the rows of <see cref="OutboxAdminSql"/>'s statements; shared by the relational admin stores.</summary>
internal static class OutboxAdminRowReader
{
    /// <summary>Reads a page: up to <paramref name="pageSize"/> rows, and the next cursor when one more row came back.</summary>
    public static async Task<OutboxAdminPage<OutboxAdminMessage>> ReadPageAsync(
        DbDataReader reader, int pageSize, Func<DbDataReader, int, Guid> readGuid, CancellationToken cancellationToken)
    {
        var items = new List<OutboxAdminMessage>(Math.Min(pageSize, 64));
        var more = false;
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            if (items.Count == pageSize)
            {
                more = true;
                break;
            }

            items.Add(Read(reader, readGuid, details: false));
        }

        return new OutboxAdminPage<OutboxAdminMessage>(items, more ? items[^1].Id : null);
    }

    /// <summary>Reads one row with its details, or <see langword="null"/>.</summary>
    public static async Task<OutboxAdminMessage?> ReadOneAsync(DbDataReader reader, Func<DbDataReader, int, Guid> readGuid, CancellationToken cancellationToken) =>
        await reader.ReadAsync(cancellationToken).ConfigureAwait(false) ? Read(reader, readGuid, details: true) : null;

    private static OutboxAdminMessage Read(DbDataReader reader, Func<DbDataReader, int, Guid> readGuid, bool details)
    {
        var state = (OutboxAdminMessageState)Convert.ToInt32(reader.GetValue(13), System.Globalization.CultureInfo.InvariantCulture);
        var contentType = reader.GetString(6);
        var message = new OutboxAdminMessage
        {
            Id = reader.GetInt64(0),
            MessageId = readGuid(reader, 1),
            Destination = reader.GetString(2),
            MessageType = reader.GetString(3),
            PartitionKey = reader.IsDBNull(4) ? null : reader.GetString(4),
            SequenceNumber = reader.IsDBNull(5) ? null : reader.GetInt64(5),
            ContentType = contentType,
            PayloadLength = reader.IsDBNull(7) ? 0 : Convert.ToInt64(reader.GetValue(7), System.Globalization.CultureInfo.InvariantCulture),
            CreatedAt = Utc(reader, 8)!.Value,
            Attempts = reader.GetInt32(9),
            Error = reader.IsDBNull(10) ? null : reader.GetString(10),
            AvailableAt = Utc(reader, 11),
            LeaseExpiresAt = Utc(reader, 12),
            State = state,
        };
        if (state == OutboxAdminMessageState.DeadLettered)
        {
            message = message with { DeadLetteredAt = Utc(reader, 14) };
        }

        if (!details)
        {
            return message;
        }

        // Details follow the list columns: headers, trace_parent, payload.
        var first = state == OutboxAdminMessageState.DeadLettered ? 15 : 14;
        var payload = (byte[])reader.GetValue(first + 2);
        return message with
        {
            Headers = reader.IsDBNull(first) ? new Dictionary<string, string>() : ParseHeaders(reader.GetString(first)),
            TraceParent = reader.IsDBNull(first + 1) ? null : reader.GetString(first + 1),
            Payload = OutboxAdminPayload.From(payload, contentType),
        };
    }

    private static DateTimeOffset? Utc(DbDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : new DateTimeOffset(DateTime.SpecifyKind(reader.GetDateTime(ordinal), DateTimeKind.Utc));

    private static Dictionary<string, string> ParseHeaders(string json)
    {
        try
        {
            return JsonSerializer.Deserialize(json, OutboxJsonContext.Default.DictionaryStringString) ?? [];
        }
        catch (JsonException)
        {
            return new Dictionary<string, string> { ["(unreadable headers)"] = json };
        }
    }
}
