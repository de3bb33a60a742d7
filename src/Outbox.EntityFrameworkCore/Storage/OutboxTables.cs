using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Storage;

namespace Outbox.EntityFrameworkCore;

/// <summary>
/// The outbox tables of one DbContext model, read from the model itself (the single source of the names) and quoted
/// with the provider's <see cref="ISqlGenerationHelper"/>, ready to be put into SQL.
/// </summary>
public sealed class OutboxTables
{
    private OutboxTables(string outbox, string deadLetters, string sequences, string? connectionString)
    {
        Outbox = outbox;
        DeadLetters = deadLetters;
        Sequences = sequences;
        ConnectionString = connectionString;
    }

    /// <summary>The delimited, schema-qualified outbox table.</summary>
    public string Outbox { get; }

    /// <summary>The delimited, schema-qualified dead-letter table.</summary>
    public string DeadLetters { get; }

    /// <summary>The delimited, schema-qualified table of per-key sequence numbers.</summary>
    public string Sequences { get; }

    /// <summary>The context's connection string, when it was configured with one.</summary>
    public string? ConnectionString { get; }

    /// <summary>Reads the table names from <paramref name="context"/>'s model.</summary>
    /// <exception cref="InvalidOperationException">The model has no outbox (<c>modelBuilder.AddOutbox()</c> missing).</exception>
    public static OutboxTables From(DbContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var helper = context.GetService<ISqlGenerationHelper>();
        return new OutboxTables(
            Qualify(context, typeof(OutboxRecord), helper),
            Qualify(context, typeof(DeadLetterRecord), helper),
            Qualify(context, typeof(OutboxSequenceRecord), helper),
            context.Database.GetConnectionString());
    }

    private static string Qualify(DbContext context, Type entity, ISqlGenerationHelper helper)
    {
        var type = context.Model.FindEntityType(entity)
            ?? throw new InvalidOperationException($"The model of {context.GetType().Name} has no outbox tables: call modelBuilder.AddOutbox() in OnModelCreating.");
        var table = type.GetTableName() ?? throw new InvalidOperationException($"{entity.Name} is not mapped to a table.");
        var schema = type.GetSchema();

        // The names may have been changed after AddOutbox validated them: validate again before they reach SQL.
        OutboxIdentifier.Validate(table, $"table name of {entity.Name}", allowNull: false);
        OutboxIdentifier.Validate(schema, $"schema of {entity.Name}", allowNull: true);
        return helper.DelimitIdentifier(table, schema);
    }
}
