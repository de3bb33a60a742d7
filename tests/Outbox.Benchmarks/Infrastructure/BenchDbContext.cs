using Microsoft.EntityFrameworkCore;

namespace Outbox.Benchmarks.Infrastructure;

/// <summary>
/// A user's DbContext: a business table (orders) plus the outbox tables. On PostgreSQL everything lives in the schema
/// <see cref="PostgresSchema"/>, so that <c>--connection</c> to a real database drops and recreates only that schema.
/// </summary>
public sealed class BenchDbContext(DbContextOptions<BenchDbContext> options) : DbContext(options)
{
    public const string PostgresSchema = "outbox_bench";

    public DbSet<BenchOrder> Orders => Set<BenchOrder>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        if (Database.ProviderName == "Npgsql.EntityFrameworkCore.PostgreSQL")
        {
            modelBuilder.HasDefaultSchema(PostgresSchema);
        }

        modelBuilder.Entity<BenchOrder>(e =>
        {
            e.ToTable("bench_orders");
            e.HasKey(x => x.Id);
            e.Property(x => x.Number).HasMaxLength(64);
            e.Property(x => x.Total).HasPrecision(18, 2);
        });
        modelBuilder.AddOutbox();
    }
}

public sealed class BenchOrder
{
    public Guid Id { get; set; }

    public required string Number { get; set; }

    public decimal Total { get; set; }

    public DateTime CreatedAt { get; set; }
}

/// <summary>The message every benchmark publishes: about 100 bytes of JSON.</summary>
public sealed record OrderPlaced(Guid OrderId, string Number, decimal Total);
