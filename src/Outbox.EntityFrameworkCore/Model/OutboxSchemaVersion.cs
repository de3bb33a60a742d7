using Microsoft.EntityFrameworkCore;

namespace Outbox.EntityFrameworkCore;

/// <summary>
/// The one row of a schema version table: which version of the library's tables the database holds. The outbox
/// tables carry theirs in <c>outbox_messages_schema</c> (<see cref="OutboxSchemaRecord"/>), the inbox tables in
/// <c>inbox_messages_schema</c> (<see cref="InboxSchemaRecord"/>): see <see cref="OutboxSchemaVersion.TableFor"/>. The row is seed data of the model (<c>HasData</c>), so an EF Core
/// migration made from the model writes it, and so do the SQL scripts in <c>migrations/</c> (generated from such
/// migrations); a version that changes the tables raises <see cref="OutboxSchemaVersion.Current"/> and its migration
/// updates the rows.
/// </summary>
internal abstract class SchemaVersionRecord
{
    /// <summary>Always 1: the table has one row. Column <c>id</c>.</summary>
    public int Id { get; set; }

    /// <summary>The schema version of the tables. Column <c>version</c>.</summary>
    public int Version { get; set; }
}

/// <summary>The row of <c>outbox_messages_schema</c>, mapped by <c>AddOutbox()</c>.</summary>
internal sealed class OutboxSchemaRecord : SchemaVersionRecord;

/// <summary>The row of <c>inbox_messages_schema</c>, mapped by <c>AddInbox()</c>.</summary>
internal sealed class InboxSchemaRecord : SchemaVersionRecord;

/// <summary>
/// The schema version of the outbox and inbox tables this version of the library needs, and the delta script of each
/// version for teams that apply the SQL scripts by hand (<c>migrations/&lt;provider&gt;/&lt;file&gt;</c>).
/// </summary>
internal static class OutboxSchemaVersion
{
    /// <summary>The version the model maps and the start-up check expects.</summary>
    public const int Current = 4;

    /// <summary>
    /// The table that holds the version of a set of tables, beside them: <c>&lt;table&gt;_schema</c> of the outbox table
    /// (<c>outbox_messages_schema</c>) or of the inbox table (<c>inbox_messages_schema</c>). Named after its tables, so
    /// that two outboxes with their own table names in one database (or an outbox and an inbox mapped by two DbContexts)
    /// each get their own.
    /// </summary>
    public static string TableFor(string table) => table + "_schema";

    /// <summary>
    /// Version 1 is the tables as first shipped (no version table); each later version has a delta script
    /// per provider, named after its EF Core migration. Checked against the files by tests/Outbox.Migrations.Tests.
    /// </summary>
    public static readonly IReadOnlyList<(int Version, string Script)> Deltas =
    [
        (1, "001-Initial.sql"),
        (2, "002-AddSchemaVersion.sql"),
        (3, "003-CreatedAtDatabaseClock.sql"),
        (4, "004-DeadLetterPayloadLast.sql"),
    ];

    /// <summary>Maps the version table of one side (<typeparamref name="TRecord"/>) with its seed row.</summary>
    public static void Map<TRecord>(ModelBuilder modelBuilder, string table, string? schema)
        where TRecord : SchemaVersionRecord, new()
    {
        modelBuilder.Entity<TRecord>(e =>
        {
            e.ToTable(table, schema);
            e.HasKey(x => x.Id).HasName($"pk_{table}");
            e.Property(x => x.Id).HasColumnName("id").ValueGeneratedNever();
            e.Property(x => x.Version).HasColumnName("version");
            e.HasData(new TRecord { Id = 1, Version = Current });
        });
    }
}
