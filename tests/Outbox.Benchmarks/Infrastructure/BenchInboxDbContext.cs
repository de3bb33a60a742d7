using Microsoft.EntityFrameworkCore;

namespace Outbox.Benchmarks.Infrastructure;

/// <summary>
/// The receiving service's DbContext in the <c>rabbitmq</c> scenario: a business table (payments) plus the inbox
/// tables. On PostgreSQL it shares the benchmark schema (dropped and recreated with it); on SQLite it has its own file,
/// as another service would.
/// </summary>
public sealed class BenchInboxDbContext(DbContextOptions<BenchInboxDbContext> options) : DbContext(options)
{
    public DbSet<BenchPayment> Payments => Set<BenchPayment>();

    /// <summary>
    /// The ids of the messages handled with this context whose transaction has not ended yet; the business scenario's
    /// commit interceptor stamps them as handled when it commits (and forgets them when it rolls back).
    /// </summary>
    public List<Guid> Uncommitted { get; } = [];

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        if (Database.ProviderName == "Npgsql.EntityFrameworkCore.PostgreSQL")
        {
            modelBuilder.HasDefaultSchema(BenchDbContext.PostgresSchema);
        }

        modelBuilder.Entity<BenchPayment>(e =>
        {
            e.ToTable("bench_payments");
            e.HasKey(x => x.Id);
            e.Property(x => x.Number).HasMaxLength(64);
            e.Property(x => x.Amount).HasPrecision(18, 2);
        });
        modelBuilder.AddInbox();
    }
}

public sealed class BenchPayment
{
    public Guid Id { get; set; }

    public Guid MessageId { get; set; }

    public Guid OrderId { get; set; }

    public required string Number { get; set; }

    public decimal Amount { get; set; }
}

/// <summary>The consumer's handler: one payment row per order, saved and committed with the inbox row.</summary>
public sealed class BenchPaymentHandler(BenchInboxDbContext db) : IMessageHandler<OrderPlaced>
{
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, long> LastSequence = new(StringComparer.Ordinal);
    private static long _handled;
    private static long _orderViolations;

    /// <summary>Handler invocations (including attempts later rolled back), for progress only.</summary>
    public static long Handled => Interlocked.Read(ref _handled);

    /// <summary>
    /// Keyed messages handled after a later message of their key had been handled (in any consumer host of the process);
    /// a batch handled again after a rollback would count too.
    /// </summary>
    public static long OrderViolations => Interlocked.Read(ref _orderViolations);

    public static void Reset()
    {
        Interlocked.Exchange(ref _handled, 0);
        Interlocked.Exchange(ref _orderViolations, 0);
        LastSequence.Clear();
    }

    public Task HandleAsync(OrderPlaced message, MessageContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        ArgumentNullException.ThrowIfNull(context);
        db.Payments.Add(new BenchPayment
        {
            Id = Guid.CreateVersion7(),
            MessageId = context.MessageId,
            OrderId = message.OrderId,
            Number = message.Number,
            Amount = message.Total,
        });
        db.Uncommitted.Add(context.MessageId);
        Interlocked.Increment(ref _handled);
        if (context.PartitionKey is { } key && context.SequenceNumber is { } sequence)
        {
            var last = LastSequence.AddOrUpdate(key, sequence, (_, previous) => Math.Max(previous, sequence));
            if (last > sequence)
            {
                Interlocked.Increment(ref _orderViolations);
            }
        }

        return Task.CompletedTask;
    }
}
