using Outbox.EntityFrameworkCore;

namespace Microsoft.EntityFrameworkCore;

/// <summary>Maps the outbox tables into a user's EF Core model.</summary>
public static class OutboxModelBuilderExtensions
{
    // PostgreSQL storage parameters, written as provider annotations so that this package needs no Npgsql reference;
    // other providers ignore them. The outbox table is a queue: rows are inserted, updated once or twice (claim,
    // release) and deleted. Free space on each page lets those updates stay HOT (no lease column is indexed; a claim
    // updates every row of a page at once, so half the page is kept free), and
    // aggressive autovacuum keeps dead tuples from piling up at the head of the primary key.
    private const string NpgsqlStorageParameter = "Npgsql:StorageParameter:";

    // Npgsql's conventions mark every model they build with its value generation strategy before OnModelCreating runs.
    private static bool IsNpgsql(ModelBuilder modelBuilder) =>
        modelBuilder.Model.FindAnnotation("Npgsql:ValueGenerationStrategy") is not null;

    /// <summary>
    /// Maps <see cref="OutboxRecord"/> (the outbox table), <see cref="DeadLetterRecord"/> (the dead-letter table) and
    /// <see cref="OutboxSequenceRecord"/> (the last sequence number of each partition key), and the
    /// <c>outbox_messages_schema</c> table (named after the outbox table) whose one row holds the schema version of the tables, checked at start-up.
    /// Call it from <c>OnModelCreating</c>.
    /// </summary>
    /// <exception cref="ArgumentException">A schema or table name is not a valid identifier.</exception>
    public static ModelBuilder AddOutbox(this ModelBuilder modelBuilder, Action<OutboxModelOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(modelBuilder);
        var options = new OutboxModelOptions();
        configure?.Invoke(options);
        OutboxIdentifier.Validate(options.Schema, $"{nameof(OutboxModelOptions)}.{nameof(OutboxModelOptions.Schema)}", allowNull: true);
        OutboxIdentifier.Validate(options.OutboxTable, $"{nameof(OutboxModelOptions)}.{nameof(OutboxModelOptions.OutboxTable)}", allowNull: false);
        OutboxIdentifier.Validate(options.DeadLetterTable, $"{nameof(OutboxModelOptions)}.{nameof(OutboxModelOptions.DeadLetterTable)}", allowNull: false);
        OutboxIdentifier.Validate(options.SequenceTable, $"{nameof(OutboxModelOptions)}.{nameof(OutboxModelOptions.SequenceTable)}", allowNull: false);
        var names = new[] { options.OutboxTable, options.DeadLetterTable, options.SequenceTable };
        if (names.Distinct(StringComparer.OrdinalIgnoreCase).Count() != names.Length)
        {
            throw new ArgumentException(
                $"{nameof(OutboxModelOptions)}.{nameof(OutboxModelOptions.OutboxTable)}, {nameof(OutboxModelOptions.DeadLetterTable)} and " +
                $"{nameof(OutboxModelOptions.SequenceTable)} must differ (got '{string.Join("', '", names)}').",
                nameof(configure));
        }

        modelBuilder.Entity<OutboxRecord>(e =>
        {
            e.ToTable(options.OutboxTable, options.Schema);
            e.HasKey(x => x.Id).HasName($"pk_{options.OutboxTable}");
            e.Property(x => x.Id).HasColumnName("id").ValueGeneratedOnAdd();
            e.Property(x => x.MessageId).HasColumnName("message_id");
            e.Property(x => x.Destination).HasColumnName("destination").HasMaxLength(512);
            e.Property(x => x.MessageType).HasColumnName("message_type").HasMaxLength(512);
            e.Property(x => x.PartitionKey).HasColumnName("partition_key").HasMaxLength(512);
            e.Property(x => x.SequenceNumber).HasColumnName("sequence_number");
            e.Property(x => x.Payload).HasColumnName("payload");
            e.Property(x => x.ContentType).HasColumnName("content_type").HasMaxLength(256);
            e.Property(x => x.Headers).HasColumnName("headers");
            e.Property(x => x.TraceParent).HasColumnName("trace_parent").HasMaxLength(128);
            // The database's clock, like every other stored time: on PostgreSQL a column default (EF Core leaves the
            // column out of the INSERT while CreatedAt is unset, and reads the value back). SQLite runs inside the
            // publishing process, so its clock is the host clock that Publish reads (see OutboxDbContextExtensions).
            var createdAt = e.Property(x => x.CreatedAt).HasColumnName("created_at");
            if (IsNpgsql(modelBuilder))
            {
                createdAt.HasDefaultValueSql("now()");
            }

            // Head-of-line check of the claim: "does an earlier message of this key still wait?"
            e.HasIndex(x => new { x.PartitionKey, x.SequenceNumber })
                .HasDatabaseName($"ix_{options.OutboxTable}_partition_key_sequence")
                .HasFilter("partition_key IS NOT NULL");
            e.Property(x => x.AvailableAt).HasColumnName("available_at");
            e.Property(x => x.Attempts).HasColumnName("attempts");
            e.Property(x => x.LastError).HasColumnName("last_error");
            e.Property(x => x.LeaseOwner).HasColumnName("lease_owner");
            e.Property(x => x.LeaseExpiresAt).HasColumnName("lease_expires_at");
            e.HasAnnotation(NpgsqlStorageParameter + "fillfactor", 50);
            e.HasAnnotation(NpgsqlStorageParameter + "autovacuum_vacuum_scale_factor", 0.01);
            e.HasAnnotation(NpgsqlStorageParameter + "autovacuum_vacuum_insert_scale_factor", 0.01);
            e.HasAnnotation(NpgsqlStorageParameter + "autovacuum_analyze_scale_factor", 0.02);
            e.HasAnnotation(NpgsqlStorageParameter + "autovacuum_vacuum_cost_delay", 0);
        });

        modelBuilder.Entity<DeadLetterRecord>(e =>
        {
            e.ToTable(options.DeadLetterTable, options.Schema);
            e.HasKey(x => x.Id).HasName($"pk_{options.DeadLetterTable}");

            // payload is the last column: SQLite can then insert a dead letter with a zero-blob payload (which it stores
            // without materializing only as the record's last field) and copy the payload in chunks through incremental
            // blob I/O, so that moving a huge row never holds it whole in memory. PostgreSQL ignores the order.
            e.Property(x => x.Id).HasColumnName("id").ValueGeneratedNever().HasColumnOrder(0);
            e.Property(x => x.MessageId).HasColumnName("message_id").HasColumnOrder(1);
            e.Property(x => x.Destination).HasColumnName("destination").HasMaxLength(512).HasColumnOrder(2);
            e.Property(x => x.MessageType).HasColumnName("message_type").HasMaxLength(512).HasColumnOrder(3);
            e.Property(x => x.PartitionKey).HasColumnName("partition_key").HasMaxLength(512).HasColumnOrder(4);
            e.Property(x => x.SequenceNumber).HasColumnName("sequence_number").HasColumnOrder(5);
            e.Property(x => x.ContentType).HasColumnName("content_type").HasMaxLength(256).HasColumnOrder(6);
            e.Property(x => x.Headers).HasColumnName("headers").HasColumnOrder(7);
            e.Property(x => x.TraceParent).HasColumnName("trace_parent").HasMaxLength(128).HasColumnOrder(8);
            e.Property(x => x.CreatedAt).HasColumnName("created_at").HasColumnOrder(9);
            e.Property(x => x.Attempts).HasColumnName("attempts").HasColumnOrder(10);
            e.Property(x => x.Reason).HasColumnName("reason").HasColumnOrder(11);
            e.Property(x => x.DeadLetteredAt).HasColumnName("dead_lettered_at").HasColumnOrder(12);
            e.Property(x => x.Payload).HasColumnName("payload").HasColumnOrder(13);
            e.HasIndex(x => x.DeadLetteredAt).HasDatabaseName($"ix_{options.DeadLetterTable}_dead_lettered_at");

            // For OrderingAfterDeadLetter = Hold: "is this key held by a dead letter?"
            e.HasIndex(x => x.PartitionKey)
                .HasDatabaseName($"ix_{options.DeadLetterTable}_partition_key")
                .HasFilter("partition_key IS NOT NULL");
        });

        modelBuilder.Entity<OutboxSequenceRecord>(e =>
        {
            e.ToTable(options.SequenceTable, options.Schema);
            e.HasKey(x => x.PartitionKey).HasName($"pk_{options.SequenceTable}");
            e.Property(x => x.PartitionKey).HasColumnName("partition_key").HasMaxLength(512);
            e.Property(x => x.LastSequence).HasColumnName("last_sequence");
        });

        OutboxSchemaVersion.Map<OutboxSchemaRecord>(modelBuilder, OutboxSchemaVersion.TableFor(options.OutboxTable), options.Schema);
        return modelBuilder;
    }
}
