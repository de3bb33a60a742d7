using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace Outbox.EntityFrameworkCore.Tests.Infrastructure;

/// <summary>One fresh, empty database with the test schema created, for one test.</summary>
public abstract class TestDatabase : IAsyncDisposable
{
    public abstract string ProviderName { get; }

    /// <summary>Configures a DbContext for this database, optionally with a retrying execution strategy.</summary>
    public abstract void Configure(DbContextOptionsBuilder builder, bool retrying = false);

    /// <summary>Registers this provider's outbox store (with cross-process notifications where the provider has them).</summary>
    public abstract OutboxBuilder UseStore(OutboxBuilder builder, bool notifications = true);

    public TestDbContext CreateContext(bool retrying = false)
    {
        var builder = new DbContextOptionsBuilder<TestDbContext>();
        Configure(builder, retrying);
        builder.UseOutbox();
        return new TestDbContext(builder.Options);
    }

    public async Task InitializeAsync()
    {
        await using var context = CreateContext();
        await context.Database.EnsureCreatedAsync();
    }

    public abstract ValueTask DisposeAsync();
}

/// <summary>Thrown by tests to simulate a transient failure that a retrying execution strategy retries.</summary>
public sealed class SimulatedTransientException() : Exception("simulated transient failure");
