using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Metadata;
using Microsoft.EntityFrameworkCore.Storage;

namespace Outbox.EntityFrameworkCore;

/// <summary>
/// The outbox tables of one DbContext model, read from the model itself (the single source of the names) and quoted
/// with the provider's <see cref="ISqlGenerationHelper"/>, ready to be put into SQL.
/// </summary>
public sealed class OutboxTables
{
    private OutboxTables(string outbox, string deadLetters, string sequences, string notificationChannel, string? connectionString, string outboxName, string deadLetterName)
    {
        OutboxName = outboxName;
        DeadLetterName = deadLetterName;
        NotificationChannel = notificationChannel;
        Outbox = outbox;
        DeadLetters = deadLetters;
        Sequences = sequences;
        ConnectionString = connectionString;
    }

    /// <summary>The delimited, schema-qualified outbox table.</summary>
    public string Outbox { get; }

    /// <summary>The delimited, schema-qualified dead-letter table.</summary>
    public string DeadLetters { get; }

    /// <summary>The outbox table's bare name (not delimited, no schema), for APIs that take a name rather than SQL.</summary>
    internal string OutboxName { get; }

    /// <summary>The dead-letter table's bare name (not delimited, no schema), for APIs that take a name rather than SQL.</summary>
    internal string DeadLetterName { get; }

    /// <summary>The delimited, schema-qualified table of per-key sequence numbers.</summary>
    public string Sequences { get; }

    /// <summary>
    /// A channel name for cross-process wake-ups, derived from the outbox table (<c>[schema_]table</c>); at most 63
    /// characters of letters, digits and underscores, so it is safe to quote as an identifier.
    /// </summary>
    public string NotificationChannel { get; }

    /// <summary>The context's connection string, when it was configured with one.</summary>
    public string? ConnectionString { get; }

    /// <summary>Reads the table names from <paramref name="context"/>'s model.</summary>
    /// <exception cref="InvalidOperationException">The model has no outbox (<c>modelBuilder.AddOutbox()</c> missing).</exception>
    public static OutboxTables From(DbContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var helper = context.GetService<ISqlGenerationHelper>();
        var outbox = context.Model.FindEntityType(typeof(OutboxRecord));
        return new OutboxTables(
            Qualify(context, typeof(OutboxRecord), helper),
            Qualify(context, typeof(DeadLetterRecord), helper),
            Qualify(context, typeof(OutboxSequenceRecord), helper),
            Channel(outbox?.GetSchema(), outbox?.GetTableName() ?? "outbox"),
            context.Database.GetConnectionString(),
            TableName(context, typeof(OutboxRecord)),
            TableName(context, typeof(DeadLetterRecord)));
    }

    private static string Channel(string? schema, string table)
    {
        var name = schema is null ? table : schema + "_" + table;
        if (name.Length <= 63)
        {
            return name;
        }

        var hash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(name)));
        return "outbox_" + hash[..32];
    }

    private static string TableName(DbContext context, Type entity) => EntityType(context, entity).GetTableName()!;

    private static IEntityType EntityType(DbContext context, Type entity) =>
        context.Model.FindEntityType(entity)
            ?? throw new InvalidOperationException($"The model of {context.GetType().Name} has no outbox tables: call modelBuilder.AddOutbox() in OnModelCreating.");

    private static string Qualify(DbContext context, Type entity, ISqlGenerationHelper helper)
    {
        var type = EntityType(context, entity);
        var table = type.GetTableName() ?? throw new InvalidOperationException($"{entity.Name} is not mapped to a table.");
        var schema = type.GetSchema();

        // The names may have been changed after AddOutbox validated them: validate again before they reach SQL.
        OutboxIdentifier.Validate(table, $"table name of {entity.Name}", allowNull: false);
        OutboxIdentifier.Validate(schema, $"schema of {entity.Name}", allowNull: true);
        return helper.DelimitIdentifier(table, schema);
    }
}
