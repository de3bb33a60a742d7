using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;

namespace Outbox.EntityFrameworkCore.Tests.Infrastructure;

/// <summary>A user's DbContext: business rows (orders) plus the outbox tables.</summary>
public sealed class TestDbContext(DbContextOptions<TestDbContext> options) : DbContext(options)
{
    public DbSet<Order> Orders => Set<Order>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<Order>(e =>
        {
            e.ToTable("orders");
            e.HasKey(x => x.Id);
            e.HasIndex(x => x.Number).IsUnique();
        });
        modelBuilder.AddOutbox();
    }
}

public sealed class Order
{
    public Guid Id { get; set; } = Guid.CreateVersion7();

    public required string Number { get; set; }

    public decimal Total { get; set; }
}

public sealed record OrderPlaced(Guid OrderId, string Number, decimal Total);
