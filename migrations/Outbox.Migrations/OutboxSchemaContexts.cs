using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace Outbox.Migrations;

/// <summary>
/// The library's tables and nothing else: <c>modelBuilder.AddOutbox()</c> and <c>modelBuilder.AddInbox()</c> with their
/// default names. One subclass per provider carries that provider's migrations.
/// </summary>
public abstract class OutboxSchemaContext(DbContextOptions options) : DbContext(options)
{
    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.AddOutbox();
        modelBuilder.AddInbox();
    }
}

public sealed class PostgreSqlOutboxContext(DbContextOptions<PostgreSqlOutboxContext> options) : OutboxSchemaContext(options);

public sealed class SqliteOutboxContext(DbContextOptions<SqliteOutboxContext> options) : OutboxSchemaContext(options);

/// <summary>No database is needed to add a migration or script one.</summary>
public sealed class PostgreSqlOutboxContextFactory : IDesignTimeDbContextFactory<PostgreSqlOutboxContext>
{
    public PostgreSqlOutboxContext CreateDbContext(string[] args) => Create();

    public static PostgreSqlOutboxContext Create() =>
        new(new DbContextOptionsBuilder<PostgreSqlOutboxContext>().UseNpgsql("Host=localhost;Database=outbox").Options);
}

/// <summary>No database is needed to add a migration or script one.</summary>
public sealed class SqliteOutboxContextFactory : IDesignTimeDbContextFactory<SqliteOutboxContext>
{
    public SqliteOutboxContext CreateDbContext(string[] args) => Create();

    public static SqliteOutboxContext Create() =>
        new(new DbContextOptionsBuilder<SqliteOutboxContext>().UseSqlite("Data Source=outbox.db").Options);
}
