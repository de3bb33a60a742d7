using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Outbox.EntityFrameworkCore.Tests.Infrastructure;

namespace Outbox.EntityFrameworkCore.Tests.Registration;

/// <summary>A second, different outbox store is refused with both named; the same one twice is harmless.</summary>
public sealed class OutboxStoreRegistrationTests
{
    [Fact]
    public void UseSqlite_AfterUsePostgreSqlForAnotherContext_ThrowsNamingBoth()
    {
        var services = new ServiceCollection();
        var outbox = services.AddOutbox();
        outbox.UsePostgreSql<TestDbContext>();

        var error = Assert.Throws<InvalidOperationException>(() => outbox.UseSqlite<OtherDbContext>());

        Assert.Contains("UsePostgreSql<TestDbContext>()", error.Message, StringComparison.Ordinal);
        Assert.Contains("UseSqlite<OtherDbContext>()", error.Message, StringComparison.Ordinal);
        Assert.Contains("never be dispatched", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void UsePostgreSql_TwiceForTheSameContext_RegistersOneStore()
    {
        var services = new ServiceCollection();
        var outbox = services.AddOutbox();

        outbox.UsePostgreSql<TestDbContext>();
        outbox.UsePostgreSql<TestDbContext>();

        Assert.Single(services, d => d.ServiceType == typeof(IOutboxStore));
        Assert.Single(services, d => d.ServiceType == typeof(OutboxStoreRegistration));
    }

    private sealed class OtherDbContext(DbContextOptions<OtherDbContext> options) : DbContext(options);
}
