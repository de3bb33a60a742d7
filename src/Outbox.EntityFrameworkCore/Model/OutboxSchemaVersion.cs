using Microsoft.EntityFrameworkCore;

namespace Outbox.EntityFrameworkCore;

/// <summary>
/// The one row of the <c>outbox_schema</c> table: which version of the library's tables the database holds. The row
/// is seed data of the model (<c>HasData</c>), so an EF Core migration made from the model writes it, and so do the SQL
/// scripts in <c>migrations/</c> (generated from such migrations); a version that changes the tables raises
/// <see cref="OutboxSchemaVersion.Current"/> and its migration updates the row.
/// </summary>
internal sealed class OutboxSchemaRecord
{
    /// <summary>Always 1: the table has one row. Column <c>id</c>.</summary>
    public int Id { get; set; }

    /// <summary>The schema version of the tables. Column <c>version</c>.</summary>
    public int Version { get; set; }
}

/// <summary>
/// The schema version of the outbox and inbox tables this version of the library needs, and the delta script of each
/// version for teams that apply the SQL scripts by hand (<c>migrations/&lt;provider&gt;/&lt;file&gt;</c>).
/// </summary>
internal static class OutboxSchemaVersion
{
    /// <summary>The version the model maps and the start-up check expects.</summary>
    public const int Current = 2;

    /// <summary>The table that holds the version (in the schema of the outbox, or of the inbox when there is no outbox).</summary>
    public const string Table = "outbox_schema";

    /// <summary>
    /// Version 1 is the tables as first shipped (no <c>outbox_schema</c> table); each later version has a delta script
    /// per provider, named after its EF Core migration. Checked against the files by tests/Outbox.Migrations.Tests.
    /// </summary>
    public static readonly IReadOnlyList<(int Version, string Script)> Deltas =
    [
        (1, "001-Initial.sql"),
        (2, "002-AddSchemaVersion.sql"),
    ];

    /// <summary>Maps <see cref="OutboxSchemaRecord"/> once, whether <c>AddOutbox()</c>, <c>AddInbox()</c> or both call it.</summary>
    public static void Map(ModelBuilder modelBuilder, string? schema)
    {
        if (modelBuilder.Model.FindEntityType(typeof(OutboxSchemaRecord)) is not null)
        {
            return;
        }

        modelBuilder.Entity<OutboxSchemaRecord>(e =>
        {
            e.ToTable(Table, schema);
            e.HasKey(x => x.Id).HasName($"pk_{Table}");
            e.Property(x => x.Id).HasColumnName("id").ValueGeneratedNever();
            e.Property(x => x.Version).HasColumnName("version");
            e.HasData(new OutboxSchemaRecord { Id = 1, Version = Current });
        });
    }
}
