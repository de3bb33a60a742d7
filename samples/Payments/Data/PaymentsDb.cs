using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace Samples.Payments.Data;

/// <summary>
/// The payment service's database: its payments, its inbox (OrderPlaced) and its outbox (payment results). The
/// inbox row, the payment and the result message commit in one transaction. One subclass per provider carries that
/// provider's migrations (Migrations/Sqlite, Migrations/PostgreSql).
/// </summary>
public abstract class PaymentsDb(DbContextOptions options) : DbContext(options)
{
    public DbSet<Payment> Payments => Set<Payment>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<Payment>(e =>
        {
            e.ToTable("payments");
            e.HasKey(x => x.Id);
            e.Property(x => x.Customer).HasMaxLength(200);
            e.Property(x => x.FailureReason).HasMaxLength(500);

            // Deliberately not unique: the demo counts orders charged twice, and the inbox must keep that at zero.
            e.HasIndex(x => x.OrderId);
        });
        modelBuilder.AddInbox();
        modelBuilder.AddOutbox();
    }
}

public sealed class SqlitePaymentsDb(DbContextOptions<SqlitePaymentsDb> options) : PaymentsDb(options);

public sealed class PostgreSqlPaymentsDb(DbContextOptions<PostgreSqlPaymentsDb> options) : PaymentsDb(options);

public sealed class Payment
{
    public Guid Id { get; set; }

    public Guid OrderId { get; set; }

    public required string Customer { get; set; }

    public long AmountCents { get; set; }

    public bool Succeeded { get; set; }

    public string? FailureReason { get; set; }

    public DateTime CreatedAt { get; set; }
}

/// <summary>For <c>dotnet ef migrations add ... --context SqlitePaymentsDb</c>: no host, no connection needed.</summary>
public sealed class SqlitePaymentsDbFactory : IDesignTimeDbContextFactory<SqlitePaymentsDb>
{
    public SqlitePaymentsDb CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<SqlitePaymentsDb>().UseSqlite("Data Source=payments.db").Options);
}

/// <summary>For <c>dotnet ef migrations add ... --context PostgreSqlPaymentsDb</c>.</summary>
public sealed class PostgreSqlPaymentsDbFactory : IDesignTimeDbContextFactory<PostgreSqlPaymentsDb>
{
    public PostgreSqlPaymentsDb CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<PostgreSqlPaymentsDb>().UseNpgsql("Host=localhost;Database=payments").Options);
}
