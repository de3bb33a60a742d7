using Microsoft.EntityFrameworkCore;

namespace Outbox.AspNetCore.Tests.Infrastructure;

/// <summary>A service's DbContext with the outbox and the inbox tables.</summary>
public sealed class AdminTestDbContext(DbContextOptions<AdminTestDbContext> options) : DbContext(options)
{
    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.AddOutbox();
        modelBuilder.AddInbox();
    }
}

public sealed record OrderPlaced(Guid OrderId, string Number, decimal Total);
