using System.Collections.Concurrent;
using Microsoft.EntityFrameworkCore;

namespace Outbox.RabbitMQ.Tests.Infrastructure;

/// <summary>The order service's database: orders and the outbox.</summary>
public sealed class OrdersDbContext(DbContextOptions<OrdersDbContext> options) : DbContext(options)
{
    public DbSet<Order> Orders => Set<Order>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<Order>(e =>
        {
            e.ToTable("orders");
            e.HasKey(x => x.Id);
        });
        modelBuilder.AddOutbox();
    }
}

/// <summary>The payment service's database: payments (the handler's effect) and the inbox.</summary>
public sealed class PaymentsDbContext(DbContextOptions<PaymentsDbContext> options) : DbContext(options)
{
    public DbSet<Payment> Payments => Set<Payment>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<Payment>(e =>
        {
            e.ToTable("payments");
            e.HasKey(x => x.Id);
        });
        modelBuilder.AddInbox();
    }
}

public sealed class Order
{
    public Guid Id { get; set; } = Guid.CreateVersion7();

    public required string Number { get; set; }
}

/// <summary>One row per handler execution that committed. No unique constraint: a duplicate effect would show.</summary>
public sealed class Payment
{
    public Guid Id { get; set; } = Guid.CreateVersion7();

    public Guid MessageId { get; set; }

    public Guid OrderId { get; set; }

    public required string Number { get; set; }

    /// <summary>The message's partition key, if it had one.</summary>
    public string? PartitionKey { get; set; }

    /// <summary>The message's per-key sequence number, if it had one.</summary>
    public long? Sequence { get; set; }

    /// <summary>
    /// For a keyed message: the highest sequence number of its key this handler's transaction could see (committed, or
    /// earlier in the same batch). In per-key order it is always <see cref="Sequence"/> - 1; a message handled while
    /// its predecessor was still uncommitted elsewhere, or after a successor, shows otherwise.
    /// </summary>
    public long? PreviousSequence { get; set; }
}

public sealed record OrderPlaced(Guid OrderId, string Number);

/// <summary>What the handler saw; shared by the test and the host.</summary>
public sealed class HandlerProbe
{
    private int _invocations;

    public int Invocations => Volatile.Read(ref _invocations);

    public ConcurrentQueue<MessageContext> Contexts { get; } = new();

    /// <summary>The DbContext instance each invocation ran with (a batch shares one).</summary>
    public ConcurrentQueue<Guid> DbContexts { get; } = new();

    public void Invoked(MessageContext context, Guid dbContext)
    {
        Interlocked.Increment(ref _invocations);
        Contexts.Enqueue(context);
        DbContexts.Enqueue(dbContext);
    }
}

public sealed class OrderPlacedHandler(PaymentsDbContext db, HandlerProbe probe) : IMessageHandler<OrderPlaced>
{
    public async Task HandleAsync(OrderPlaced message, MessageContext context, CancellationToken cancellationToken)
    {
        probe.Invoked(context, db.ContextId.InstanceId);
        var payment = new Payment
        {
            MessageId = context.MessageId,
            OrderId = message.OrderId,
            Number = message.Number,
            PartitionKey = context.PartitionKey,
            Sequence = context.SequenceNumber,
        };
        if (context.PartitionKey is { } key)
        {
            var committed = await db.Payments.Where(p => p.PartitionKey == key).MaxAsync(p => p.Sequence, cancellationToken) ?? 0;
            var inThisBatch = db.Payments.Local.Where(p => p.PartitionKey == key).Max(p => p.Sequence) ?? 0;
            payment.PreviousSequence = Math.Max(committed, inThisBatch);
        }

        db.Payments.Add(payment); // the inbox saves and commits
    }
}
