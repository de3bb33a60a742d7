using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace Samples.Orders.Data;

/// <summary>
/// The order service's database: its orders, its outbox (OrderPlaced) and its inbox (payment results), so that a
/// handler's writes and the inbox row commit together, as do an order and its message. One subclass per provider
/// carries that provider's migrations (Migrations/Sqlite, Migrations/PostgreSql).
/// </summary>
public abstract class OrdersDb(DbContextOptions options) : DbContext(options)
{
    public DbSet<Order> Orders => Set<Order>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<Order>(e =>
        {
            e.ToTable("orders");
            e.HasKey(x => x.Id);
            e.Property(x => x.Customer).HasMaxLength(200);
            e.Property(x => x.Status).HasConversion<string>().HasMaxLength(20);
            e.Property(x => x.FailureReason).HasMaxLength(500);
            e.HasIndex(x => x.Status);
        });
        modelBuilder.AddOutbox();
        modelBuilder.AddInbox();
    }
}

public sealed class SqliteOrdersDb(DbContextOptions<SqliteOrdersDb> options) : OrdersDb(options);

public sealed class PostgreSqlOrdersDb(DbContextOptions<PostgreSqlOrdersDb> options) : OrdersDb(options);

public enum OrderStatus
{
    Pending,
    Paid,
    PaymentFailed,
}

public sealed class Order
{
    public Guid Id { get; set; }

    public required string Customer { get; set; }

    public long AmountCents { get; set; }

    public OrderStatus Status { get; set; }

    public Guid? PaymentId { get; set; }

    public string? FailureReason { get; set; }

    /// <summary>How many payment results were applied to this order: 1 when every message was processed exactly once.</summary>
    public int PaymentResults { get; set; }

    public DateTime PlacedAt { get; set; }

    public DateTime? SettledAt { get; set; }
}

/// <summary>For <c>dotnet ef migrations add ... --context SqliteOrdersDb</c>: no host, no connection needed.</summary>
public sealed class SqliteOrdersDbFactory : IDesignTimeDbContextFactory<SqliteOrdersDb>
{
    public SqliteOrdersDb CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<SqliteOrdersDb>().UseSqlite("Data Source=orders.db").Options);
}

/// <summary>For <c>dotnet ef migrations add ... --context PostgreSqlOrdersDb</c>.</summary>
public sealed class PostgreSqlOrdersDbFactory : IDesignTimeDbContextFactory<PostgreSqlOrdersDb>
{
    public PostgreSqlOrdersDb CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<PostgreSqlOrdersDb>().UseNpgsql("Host=localhost;Database=orders").Options);
}
