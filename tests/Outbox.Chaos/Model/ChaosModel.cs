using Microsoft.EntityFrameworkCore;

namespace Outbox.Chaos.Model;

/// <summary>
/// Both services' tables live in one database, in a schema each, so that the verifier can join them in SQL. Each
/// service still has its own connections, DbContext and transactions.
/// </summary>
public static class ChaosSchemas
{
    public const string Orders = "orders";
    public const string Payments = "payments";
}

/// <summary>The message the producer publishes with every order, keyed by customer.</summary>
public sealed record OrderPlaced(long OrderId, string Customer, bool Poison);

/// <summary>The order service's database: orders plus the outbox.</summary>
public sealed class OrdersDb(DbContextOptions<OrdersDb> options) : DbContext(options)
{
    public DbSet<Order> Orders => Set<Order>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<Order>(e =>
        {
            e.ToTable("orders", ChaosSchemas.Orders);
            e.HasKey(x => x.Id);
            e.Property(x => x.Id).HasColumnName("id").ValueGeneratedNever();
            e.Property(x => x.Customer).HasColumnName("customer").HasMaxLength(64);
            e.Property(x => x.Poison).HasColumnName("poison");
        });
        modelBuilder.AddOutbox(o => o.Schema = ChaosSchemas.Orders);
    }
}

public sealed class Order
{
    /// <summary>Given by the producer: 1..N, so a lost or duplicated order is easy to name.</summary>
    public long Id { get; set; }

    public string Customer { get; set; } = "";

    public bool Poison { get; set; }
}

/// <summary>The payment service's database: payments plus the inbox.</summary>
public sealed class PaymentsDb(DbContextOptions<PaymentsDb> options) : DbContext(options)
{
    public DbSet<Payment> Payments => Set<Payment>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<Payment>(e =>
        {
            e.ToTable("payments", ChaosSchemas.Payments);
            e.HasKey(x => x.Id);

            // Deliberately NOT unique: a duplicate effect must be visible to the verifier, not prevented by a constraint.
            e.HasIndex(x => x.OrderId);
            e.Property(x => x.Id).HasColumnName("id");
            e.Property(x => x.OrderId).HasColumnName("order_id");
            e.Property(x => x.Customer).HasColumnName("customer").HasMaxLength(64);
            e.Property(x => x.Sequence).HasColumnName("sequence");
        });
        modelBuilder.AddInbox(o => o.Schema = ChaosSchemas.Payments);
    }
}

public sealed class Payment
{
    /// <summary>An identity: the order in which payments were committed.</summary>
    public long Id { get; set; }

    public long OrderId { get; set; }

    public string Customer { get; set; } = "";

    /// <summary>The message's per-customer sequence number, to check processing order.</summary>
    public long Sequence { get; set; }
}
