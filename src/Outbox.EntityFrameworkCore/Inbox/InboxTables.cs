using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Storage;

namespace Outbox.EntityFrameworkCore;

/// <summary>
/// The inbox tables of one DbContext model, read from the model and quoted with the provider's
/// <see cref="ISqlGenerationHelper"/>, and the statements built on them. The statements are the same text on
/// PostgreSQL and SQLite (3.24 or later for <c>ON CONFLICT DO NOTHING</c>); values always travel as parameters.
/// </summary>
internal sealed class InboxTables
{
    // The batch insert's text by row count (index = rows - 1), built on first use.
    private readonly string?[] _insertProcessedBatch = new string?[MaxBatchRows];

    /// <summary>The most rows one <see cref="InsertProcessedBatch"/> statement takes (the most a batch holds).</summary>
    public const int MaxBatchRows = 1_000;

    private InboxTables(string inbox, string deadLetters, string sequences, bool lockRows)
    {
        Inbox = inbox;
        DeadLetters = deadLetters;

        // {0} consumer, {1} partition key. FOR UPDATE on PostgreSQL so two deliveries of one key serialize here;
        // SQLite has one writer and the inbox insert before it already holds the write lock.
        SelectSequence = $"SELECT last_sequence AS \"Value\" FROM {sequences} WHERE consumer = {{0}} AND partition_key = {{1}}" + (lockRows ? " FOR UPDATE" : "");

        // {0} consumer, {1} partition key, {2} sequence: raises the key's last sequence, never lowers it.
        UpsertSequence =
            $"INSERT INTO {sequences} AS s (consumer, partition_key, last_sequence) VALUES ({{0}}, {{1}}, {{2}}) " +
            "ON CONFLICT (consumer, partition_key) DO UPDATE SET last_sequence = " +
            "CASE WHEN excluded.last_sequence > s.last_sequence THEN excluded.last_sequence ELSE s.last_sequence END";

        // {0} consumer, {1} message id, {2} received at, {3} processed at.
        InsertProcessed =
            $"INSERT INTO {inbox} (consumer, message_id, received_at, processed_at) VALUES ({{0}}, {{1}}, {{2}}, {{3}}) ON CONFLICT DO NOTHING";

        // A dead-lettered message is marked handled too (processed_at stays null), so a redelivery is skipped.
        InsertDeadLettered =
            $"INSERT INTO {inbox} (consumer, message_id, received_at, processed_at) VALUES ({{0}}, {{1}}, {{2}}, NULL) ON CONFLICT DO NOTHING";

        // {0} consumer, {1} cap: counts a consumer's dead letters up to the cap (served by the (consumer, dead_lettered_at) index).
        CountDeadLetters =
            $"SELECT COUNT(*) AS \"Value\" FROM (SELECT 1 AS one FROM {deadLetters} WHERE consumer = {{0}} LIMIT {{1}}) AS capped";

        // {0} cutoff, {1} batch size. By primary key, so one text serves both providers.
        DeleteOlderThan =
            $"DELETE FROM {inbox} WHERE (consumer, message_id) IN (SELECT consumer, message_id FROM {inbox} WHERE received_at < {{0}} LIMIT {{1}})";
    }

    /// <summary>The delimited, schema-qualified inbox table.</summary>
    public string Inbox { get; }

    /// <summary>The delimited, schema-qualified inbox dead-letter table.</summary>
    public string DeadLetters { get; }

    /// <summary>Records a processed message; 0 rows affected means it was handled before.</summary>
    public string InsertProcessed { get; }

    /// <summary>
    /// Records <paramref name="rows"/> processed messages in one statement and returns the ids it inserted (as
    /// <c>"Value"</c>): an id it does not return was handled before (or occurs twice in the batch). Parameters: {0}
    /// consumer, {1} processed at, then per row its message id and received at. PostgreSQL and SQLite (3.35 or later for
    /// <c>RETURNING</c>) share the text; <c>ON CONFLICT DO NOTHING</c> also skips a second row of one id in the statement.
    /// </summary>
    public string InsertProcessedBatch(int rows)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rows, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(rows, MaxBatchRows);
        return _insertProcessedBatch[rows - 1] ??= Build(Inbox, rows);

        static string Build(string inbox, int rows)
        {
            var sql = new System.Text.StringBuilder($"INSERT INTO {inbox} (consumer, message_id, received_at, processed_at) VALUES ", 120 + (rows * 24));
            for (var i = 0; i < rows; i++)
            {
                sql.Append(i == 0 ? "" : ", ").Append("({0}, {").Append(2 + (2 * i)).Append("}, {").Append(3 + (2 * i)).Append("}, {1})");
            }

            return sql.Append(" ON CONFLICT DO NOTHING RETURNING message_id AS \"Value\"").ToString();
        }
    }

    /// <summary>Records a dead-lettered message; 0 rows affected means it was handled before.</summary>
    public string InsertDeadLettered { get; }

    /// <summary>Counts a consumer's dead letters, up to a cap.</summary>
    public string CountDeadLetters { get; }

    /// <summary>Reads the last sequence processed for a consumer and key (locking the row where the provider can).</summary>
    public string SelectSequence { get; }

    /// <summary>Raises the last sequence processed for a consumer and key.</summary>
    public string UpsertSequence { get; }

    /// <summary>Deletes one batch of rows received before a cutoff.</summary>
    public string DeleteOlderThan { get; }

    /// <summary>Reads the table names from <paramref name="context"/>'s model.</summary>
    /// <exception cref="InvalidOperationException">The model has no inbox (<c>modelBuilder.AddInbox()</c> missing).</exception>
    public static InboxTables From(DbContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var helper = context.GetService<ISqlGenerationHelper>();
        return new InboxTables(
            Qualify(context, typeof(InboxRecord), helper),
            Qualify(context, typeof(InboxDeadLetterRecord), helper),
            Qualify(context, typeof(InboxSequenceRecord), helper),
            lockRows: context.Database.ProviderName?.Contains("Npgsql", StringComparison.OrdinalIgnoreCase) == true);
    }

    public static bool IsMapped(DbContext context) => context.Model.FindEntityType(typeof(InboxRecord)) is not null
        && context.Model.FindEntityType(typeof(InboxDeadLetterRecord)) is not null;

    private static string Qualify(DbContext context, Type entity, ISqlGenerationHelper helper)
    {
        var type = context.Model.FindEntityType(entity)
            ?? throw new InvalidOperationException($"The model of {context.GetType().Name} has no inbox tables: call modelBuilder.AddInbox() in OnModelCreating.");
        var table = type.GetTableName() ?? throw new InvalidOperationException($"{entity.Name} is not mapped to a table.");
        var schema = type.GetSchema();

        // The names may have been changed after AddInbox validated them: validate again before they reach SQL.
        OutboxIdentifier.Validate(table, $"table name of {entity.Name}", allowNull: false);
        OutboxIdentifier.Validate(schema, $"schema of {entity.Name}", allowNull: true);
        return helper.DelimitIdentifier(table, schema);
    }
}
