using Outbox.EntityFrameworkCore;

namespace Microsoft.EntityFrameworkCore;

/// <summary>Maps the inbox tables into a consumer's EF Core model.</summary>
public static class InboxModelBuilderExtensions
{
    /// <summary>
    /// Maps <see cref="InboxRecord"/> (the inbox: primary key consumer + message id) and <see cref="InboxDeadLetterRecord"/>
    /// (received messages a consumer gave up on) and <see cref="InboxSequenceRecord"/> (per-key order of handlers that
    /// enforce it), and the <c>inbox_messages_schema</c> table (named after the inbox table) whose one row holds the schema version of the inbox tables,
    /// checked at start-up. Call it from <c>OnModelCreating</c> of the DbContext given to
    /// <c>AddOutboxConsumer&lt;TContext&gt;</c>; the handlers' own tables live in the same model and database.
    /// </summary>
    /// <exception cref="ArgumentException">A schema or table name is not a valid identifier, or both tables have the same name.</exception>
    public static ModelBuilder AddInbox(this ModelBuilder modelBuilder, Action<InboxModelOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(modelBuilder);
        var options = new InboxModelOptions();
        configure?.Invoke(options);
        OutboxIdentifier.Validate(options.Schema, $"{nameof(InboxModelOptions)}.{nameof(InboxModelOptions.Schema)}", allowNull: true);
        OutboxIdentifier.Validate(options.InboxTable, $"{nameof(InboxModelOptions)}.{nameof(InboxModelOptions.InboxTable)}", allowNull: false);
        OutboxIdentifier.Validate(options.DeadLetterTable, $"{nameof(InboxModelOptions)}.{nameof(InboxModelOptions.DeadLetterTable)}", allowNull: false);
        OutboxIdentifier.Validate(options.SequenceTable, $"{nameof(InboxModelOptions)}.{nameof(InboxModelOptions.SequenceTable)}", allowNull: false);
        var names = new[] { options.InboxTable, options.DeadLetterTable, options.SequenceTable };
        if (names.Distinct(StringComparer.OrdinalIgnoreCase).Count() != names.Length)
        {
            throw new ArgumentException(
                $"{nameof(InboxModelOptions)}.{nameof(InboxModelOptions.InboxTable)}, {nameof(InboxModelOptions.DeadLetterTable)} and " +
                $"{nameof(InboxModelOptions.SequenceTable)} must differ (got '{string.Join("', '", names)}').",
                nameof(configure));
        }

        modelBuilder.Entity<InboxRecord>(e =>
        {
            e.ToTable(options.InboxTable, options.Schema);
            e.HasKey(x => new { x.Consumer, x.MessageId }).HasName($"pk_{options.InboxTable}");
            e.Property(x => x.Consumer).HasColumnName("consumer").HasMaxLength(128);
            e.Property(x => x.MessageId).HasColumnName("message_id").ValueGeneratedNever();
            e.Property(x => x.ReceivedAt).HasColumnName("received_at");
            e.Property(x => x.ProcessedAt).HasColumnName("processed_at");

            // The retention cleanup deletes the oldest rows in small batches.
            e.HasIndex(x => x.ReceivedAt).HasDatabaseName($"ix_{options.InboxTable}_received_at");
        });

        modelBuilder.Entity<InboxDeadLetterRecord>(e =>
        {
            e.ToTable(options.DeadLetterTable, options.Schema);
            e.HasKey(x => x.Id).HasName($"pk_{options.DeadLetterTable}");
            e.Property(x => x.Id).HasColumnName("id").ValueGeneratedOnAdd();
            e.Property(x => x.Consumer).HasColumnName("consumer").HasMaxLength(128);
            e.Property(x => x.MessageId).HasColumnName("message_id").HasMaxLength(256);
            e.Property(x => x.MessageType).HasColumnName("message_type").HasMaxLength(512);
            e.Property(x => x.PartitionKey).HasColumnName("partition_key").HasMaxLength(512);
            e.Property(x => x.Payload).HasColumnName("payload");
            e.Property(x => x.ContentType).HasColumnName("content_type").HasMaxLength(256);
            e.Property(x => x.Headers).HasColumnName("headers");
            e.Property(x => x.TraceParent).HasColumnName("trace_parent").HasMaxLength(256);
            e.Property(x => x.Reason).HasColumnName("reason");
            e.Property(x => x.Attempts).HasColumnName("attempts");
            e.Property(x => x.ReceivedAt).HasColumnName("received_at");
            e.Property(x => x.DeadLetteredAt).HasColumnName("dead_lettered_at");
            e.HasIndex(x => new { x.Consumer, x.DeadLetteredAt }).HasDatabaseName($"ix_{options.DeadLetterTable}_consumer_dead_lettered_at");
        });

        modelBuilder.Entity<InboxSequenceRecord>(e =>
        {
            e.ToTable(options.SequenceTable, options.Schema);
            e.HasKey(x => new { x.Consumer, x.PartitionKey }).HasName($"pk_{options.SequenceTable}");
            e.Property(x => x.Consumer).HasColumnName("consumer").HasMaxLength(128);
            e.Property(x => x.PartitionKey).HasColumnName("partition_key").HasMaxLength(512);
            e.Property(x => x.LastSequence).HasColumnName("last_sequence");
        });

        OutboxSchemaVersion.Map<InboxSchemaRecord>(modelBuilder, OutboxSchemaVersion.TableFor(options.InboxTable), options.Schema);
        return modelBuilder;
    }
}
