using System.Data.Common;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Metadata;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.DependencyInjection;
using Outbox.Benchmarks.Options;
using Outbox.EntityFrameworkCore;

namespace Outbox.Benchmarks.Infrastructure;

/// <summary>
/// The benchmark's database on one provider: creates the schema from the EF model, pre-fills outbox rows exactly as
/// <c>Publish</c> + <c>SaveChanges</c> write them (fast, in bulk), and answers the cheap questions the scenarios poll.
/// </summary>
/// <remarks>
/// Pre-filled rows are made by the real <c>DbContext.Publish</c>; only the INSERT is replaced by a bulk path (COPY on
/// PostgreSQL, a prepared INSERT in one transaction on SQLite), with column names and type mappings from the EF model.
/// The per-key sequence number, which the outbox interceptor assigns during <c>SaveChanges</c>, is assigned the same
/// way here (1, 2, 3, ... per key in publish order) and the sequences table is brought up to date in the same
/// transaction. <see cref="VerifyBulkMatchesPublishAsync"/> checks at start that a bulk row and a row written by the
/// real <c>SaveChanges</c> have the same shape, so a change of the model cannot silently skew the benchmark.
/// </remarks>
public abstract class BenchDatabase : IAsyncDisposable
{
    private const int PublishChunk = 1_000;

    // Columns whose value differs from message to message; every other column must be identical for two messages
    // published the same way.
    private static readonly HashSet<string> VaryingColumns = new(StringComparer.Ordinal) { "id", "message_id", "partition_key", "payload", "created_at" };

    private readonly Dictionary<string, long> _lastSequence = new(StringComparer.Ordinal);
    private long _messageNumber;
    private OutboxTables? _tables;

    protected BenchDatabase(string connectionString, string source)
    {
        ConnectionString = connectionString;
        Source = source;
    }

    public abstract BenchProvider Provider { get; }

    public string ProviderName => Provider == BenchProvider.Postgres ? "postgres" : "sqlite";

    /// <summary>Where the database came from: connection, local, environment, testcontainers, temp-file.</summary>
    public string Source { get; }

    public string ConnectionString { get; }

    /// <summary>The partition keys messages get.</summary>
    public PartitionKeys Keys { get; private set; } = PartitionKeys.None;

    /// <summary>The delimited outbox table names, read from the EF model exactly as the stores read them.</summary>
    public OutboxTables Tables
    {
        get
        {
            if (_tables is null)
            {
                using var context = CreateContext();
                _tables = OutboxTables.From(context);
            }

            return _tables;
        }
    }

    public static async Task<BenchDatabase> OpenAsync(BenchOptions options, TextWriter log, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        BenchDatabase database = options.Provider switch
        {
            BenchProvider.Postgres => await PostgresBenchDatabase.StartAsync(options, log, cancellationToken),
            _ => SqliteBenchDatabase.Open(options),
        };
        database.Keys = options.Keys;
        try
        {
            await database.CreateSchemaAsync(cancellationToken);
            await database.VerifyBulkMatchesPublishAsync(cancellationToken);
            return database;
        }
        catch
        {
            await database.DisposeAsync();
            throw;
        }
    }

    /// <summary>Configures a DbContext for this database (provider and connection only).</summary>
    public abstract void Configure(DbContextOptionsBuilder builder);

    /// <summary>Registers the provider's real outbox store.</summary>
    public abstract OutboxBuilder UseStore(OutboxBuilder builder);

    public abstract Task<DbConnection> OpenConnectionAsync(CancellationToken cancellationToken);

    /// <summary>A context for the harness: connected to the outbox without application services (<c>UseOutbox()</c>).</summary>
    public BenchDbContext CreateContext()
    {
        var builder = new DbContextOptionsBuilder<BenchDbContext>();
        Configure(builder);
        builder.UseOutbox();
        return new BenchDbContext(builder.Options);
    }

    public abstract Task<string> ServerVersionAsync(CancellationToken cancellationToken);

    /// <summary>Whether the outbox table has no row at all (cheap: stops at the first row).</summary>
    public abstract Task<bool> IsOutboxEmptyAsync(CancellationToken cancellationToken);

    public abstract Task<long> CountOutboxAsync(CancellationToken cancellationToken);

    /// <summary>Levels the field before a measured phase: VACUUM ANALYZE on PostgreSQL, a WAL checkpoint on SQLite.</summary>
    public abstract Task PrepareForRunAsync(CancellationToken cancellationToken);

    /// <summary>The next message's partition key, for producers and the pre-fill alike.</summary>
    public string? NextPartitionKey(Guid orderId) => Keys.For(Interlocked.Increment(ref _messageNumber), orderId);

    /// <summary>Makes a new order number.</summary>
    public static string OrderNumber(Guid orderId) => $"ORD-{orderId.ToString("N")[^12..]}";

    /// <summary>Writes <paramref name="count"/> outbox rows (and their sequence numbers) in one transaction.</summary>
    public Task PrefillAsync(int count, CancellationToken cancellationToken) => PrefillAsync(count, null, cancellationToken);

    private async Task PrefillAsync(int count, string? fixedKey, CancellationToken cancellationToken)
    {
        using var probe = CreateContext();
        var columns = OutboxColumn.From(probe.Model);
        await using var writer = await BeginBulkWriteAsync(columns, cancellationToken);
        for (var written = 0; written < count; written += PublishChunk)
        {
            await using var context = CreateContext();
            var chunk = Math.Min(PublishChunk, count - written);
            for (var i = 0; i < chunk; i++)
            {
                var orderId = Guid.CreateVersion7();
                var key = fixedKey ?? NextPartitionKey(orderId);
                context.Publish(new OrderPlaced(orderId, OrderNumber(orderId), 42.50m), new PublishOptions { PartitionKey = key });
            }

            foreach (var entry in context.ChangeTracker.Entries<OutboxRecord>())
            {
                AssignSequenceNumber(entry.Entity);
                await writer.WriteAsync(entry.Entity, cancellationToken);
            }
        }

        await writer.CompleteAsync(Keys.IsNone && fixedKey is null ? null : SequencesUpsertSql, cancellationToken);
    }

    /// <summary>As the outbox interceptor does in <c>SaveChanges</c>: 1, 2, 3, ... per key, in publish order.</summary>
    private void AssignSequenceNumber(OutboxRecord record)
    {
        if (record.PartitionKey is not { } key)
        {
            return;
        }

        if (Keys.IsUnique)
        {
            record.SequenceNumber = 1;
            return;
        }

        _lastSequence.TryGetValue(key, out var last);
        _lastSequence[key] = last + 1;
        record.SequenceNumber = last + 1;
    }

    /// <summary>
    /// Brings the sequences table up to date with the rows just written, as the interceptor's upsert would have:
    /// one statement, reading the new rows back (so no per-key state is kept in memory).
    /// </summary>
    protected abstract string SequencesUpsertSql { get; }

    protected abstract Task<IBulkOutboxWriter> BeginBulkWriteAsync(IReadOnlyList<OutboxColumn> columns, CancellationToken cancellationToken);

    /// <summary>Drops what a previous run left, so that the tables can be created from EF's own create script.</summary>
    protected abstract Task DropSchemaAsync(BenchDbContext context, CancellationToken cancellationToken);

    private async Task CreateSchemaAsync(CancellationToken cancellationToken)
    {
        await using var context = CreateContext();
        await DropSchemaAsync(context, cancellationToken);
        var script = context.Database.GenerateCreateScript();
        await context.Database.ExecuteSqlRawAsync(script, cancellationToken);
        await AfterSchemaCreatedAsync(cancellationToken);
    }

    /// <summary>Experiments on the created schema (e.g. another fillfactor); nothing by default.</summary>
    protected virtual Task AfterSchemaCreatedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>
    /// Writes one message through the real <c>Publish</c> + <c>SaveChanges</c> and one through the bulk path, and
    /// compares the two rows column by column: same nullness and stored type everywhere, same value wherever two
    /// messages published alike must agree (sequence number, destination, type, content type, headers, attempts,
    /// lease columns, ...). Then empties the tables again.
    /// </summary>
    private async Task VerifyBulkMatchesPublishAsync(CancellationToken cancellationToken)
    {
        var keyed = !Keys.IsNone;
        await using (var context = CreateContext())
        {
            var orderId = Guid.CreateVersion7();
            context.Publish(new OrderPlaced(orderId, OrderNumber(orderId), 42.50m), new PublishOptions { PartitionKey = keyed ? "verify-publish" : null });
            await context.SaveChangesAsync(cancellationToken);
        }

        await PrefillAsync(1, keyed ? "verify-bulk" : null, cancellationToken);
        _lastSequence.Remove("verify-bulk");

        await using var connection = await OpenConnectionAsync(cancellationToken);
        var rows = new List<(string Name, object? Value, Type? Type)[]>();
        await using (var command = connection.CreateCommand())
        {
            command.CommandText = $"SELECT * FROM {Tables.Outbox} ORDER BY id";
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                rows.Add([.. Enumerable.Range(0, reader.FieldCount).Select(i => reader.IsDBNull(i)
                    ? (reader.GetName(i), (object?)null, (Type?)null)
                    : (reader.GetName(i), reader.GetValue(i), reader.GetValue(i).GetType()))]);
            }
        }

        if (rows.Count != 2)
        {
            throw new InvalidOperationException($"Pre-fill check: expected 2 rows (one published, one bulk), found {rows.Count}.");
        }

        var differences = new List<string>();
        for (var i = 0; i < rows[0].Length; i++)
        {
            var (name, published, publishedType) = rows[0][i];
            var (_, bulk, bulkType) = rows[1][i];
            if (publishedType != bulkType || (!VaryingColumns.Contains(name) && !Equals(published, bulk)))
            {
                differences.Add($"{name}: Publish wrote {published ?? "NULL"} ({publishedType?.Name ?? "null"}), bulk wrote {bulk ?? "NULL"} ({bulkType?.Name ?? "null"})");
            }
        }

        if (differences.Count > 0)
        {
            throw new InvalidOperationException(
                "The bulk pre-fill no longer writes rows like Publish does (has the outbox model changed?): " + string.Join("; ", differences));
        }

        await using var cleanup = connection.CreateCommand();
        cleanup.CommandText = $"DELETE FROM {Tables.Outbox}; DELETE FROM {Tables.Sequences}";
        await cleanup.ExecuteNonQueryAsync(cancellationToken);
    }

    public abstract ValueTask DisposeAsync();

    /// <summary>Writes outbox rows in bulk; one transaction from begin to <see cref="CompleteAsync"/>.</summary>
    protected interface IBulkOutboxWriter : IAsyncDisposable
    {
        ValueTask WriteAsync(OutboxRecord record, CancellationToken cancellationToken);

        /// <summary>Ends the bulk write, runs <paramref name="thenSql"/> (when given) and commits.</summary>
        Task CompleteAsync(string? thenSql, CancellationToken cancellationToken);
    }

    /// <summary>One column of the outbox table as the EF model maps it (the identity <c>id</c> left out).</summary>
    protected sealed record OutboxColumn(string Name, IProperty Property, RelationalTypeMapping Mapping)
    {
        public object? ValueOf(OutboxRecord record) => Property.PropertyInfo!.GetValue(record);

        public static IReadOnlyList<OutboxColumn> From(IModel model)
        {
            var entity = model.FindEntityType(typeof(OutboxRecord)) ?? throw new InvalidOperationException("The model has no outbox.");
            var table = StoreObjectIdentifier.Table(entity.GetTableName()!, entity.GetSchema());
            return
            [
                .. entity.GetProperties()
                    .Where(p => p.ValueGenerated == ValueGenerated.Never)
                    .Select(p => new OutboxColumn(p.GetColumnName(table)!, p, (RelationalTypeMapping)p.GetRelationalTypeMapping())),
            ];
        }
    }

    /// <summary>Quotes a column name with the provider's helper, as the stores do.</summary>
    protected static string Quote(BenchDbContext context, string name) =>
        context.GetService<ISqlGenerationHelper>().DelimitIdentifier(name);
}
