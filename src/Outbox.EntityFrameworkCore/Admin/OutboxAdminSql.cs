using System.Text;

namespace Outbox.EntityFrameworkCore;

/// <summary>
/// The admin store's statements, shared by the relational providers. Tables are the delimited names of
/// <see cref="OutboxTables"/>; every value is a named parameter (<c>@after</c>, <c>@limit</c>, <c>@message_type</c>,
/// <c>@destination</c>, <c>@partition_key</c>, <c>@from</c>, <c>@to</c>, <c>@id</c>, <c>@before</c>) that the provider
/// binds with its own types. Column order matches <see cref="OutboxAdminRowReader"/>.
/// </summary>
internal sealed class OutboxAdminSql
{
    private readonly string _now;
    private readonly string _pendingColumns;
    private readonly string _deadLetterColumns;

    /// <param name="tables">The delimited tables.</param>
    /// <param name="now">The provider's expression for the database's current time, comparable with the time columns.</param>
    /// <param name="byteLength">The provider's function giving a blob's length in bytes.</param>
    public OutboxAdminSql(OutboxTables tables, string now, string byteLength)
    {
        ArgumentNullException.ThrowIfNull(tables);
        Outbox = tables.Outbox;
        DeadLetters = tables.DeadLetters;
        _now = now;
        const string Common = "t.id, t.message_id, t.destination, t.message_type, t.partition_key, t.sequence_number, t.content_type";
        _pendingColumns =
            $"{Common}, {byteLength}(t.payload), t.created_at, t.attempts, t.last_error, t.available_at, t.lease_expires_at, " +
            $"CASE WHEN t.lease_expires_at IS NOT NULL AND t.lease_expires_at > {now} THEN 1 " +
            $"WHEN t.available_at IS NOT NULL AND t.available_at > {now} THEN 2 ELSE 0 END";
        _deadLetterColumns =
            $"{Common}, {byteLength}(t.payload), t.created_at, t.attempts, t.reason, NULL, NULL, 3, t.dead_lettered_at";
    }

    /// <summary>The delimited outbox table.</summary>
    public string Outbox { get; }

    /// <summary>The delimited dead-letter table.</summary>
    public string DeadLetters { get; }

    /// <summary>The columns every message row is inserted with on requeue (the identity position is left to the database).</summary>
    public const string MessageColumns =
        "message_id, destination, message_type, partition_key, sequence_number, payload, content_type, headers, trace_parent";

    /// <summary>A page of waiting messages (time range on <c>created_at</c>), or of dead letters (on <c>dead_lettered_at</c>).</summary>
    public string List(bool deadLetters, OutboxAdminQuery query)
    {
        ArgumentNullException.ThrowIfNull(query);
        var sql = new StringBuilder("SELECT ")
            .Append(deadLetters ? _deadLetterColumns : _pendingColumns)
            .Append(" FROM ").Append(deadLetters ? DeadLetters : Outbox).Append(" AS t WHERE 1 = 1");
        if (query.After is not null)
        {
            sql.Append(query.Descending ? " AND t.id < @after" : " AND t.id > @after");
        }

        if (query.MessageType is not null)
        {
            sql.Append(" AND t.message_type = @message_type");
        }

        if (query.Destination is not null)
        {
            sql.Append(" AND t.destination = @destination");
        }

        if (query.PartitionKey is not null)
        {
            sql.Append(" AND t.partition_key = @partition_key");
        }

        var time = deadLetters ? "t.dead_lettered_at" : "t.created_at";
        if (query.From is not null)
        {
            sql.Append(" AND ").Append(time).Append(" >= @from");
        }

        if (query.To is not null)
        {
            sql.Append(" AND ").Append(time).Append(" < @to");
        }

        return sql.Append(query.Descending ? " ORDER BY t.id DESC" : " ORDER BY t.id").Append(" LIMIT @limit").ToString();
    }

    /// <summary>One waiting message or dead letter by id, with headers, traceparent and payload after the list columns.</summary>
    public string Get(bool deadLetters) =>
        $"SELECT {(deadLetters ? _deadLetterColumns : _pendingColumns)}, t.headers, t.trace_parent, t.payload " +
        $"FROM {(deadLetters ? DeadLetters : Outbox)} AS t WHERE t.id = @id";

    /// <summary>The row of a requeued dead letter, as inserted into the outbox: new position, zero attempts, published now.</summary>
    public string RequeueInsertSelect =>
        $"INSERT INTO {Outbox} ({MessageColumns}, created_at, attempts) SELECT {MessageColumns}, {_now}, 0";

    /// <summary>Deletes dead letters dead-lettered before <c>@before</c>.</summary>
    public string PurgeBefore => $"DELETE FROM {DeadLetters} WHERE dead_lettered_at < @before";
}
