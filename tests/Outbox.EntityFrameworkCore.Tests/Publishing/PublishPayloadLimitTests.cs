using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Outbox.EntityFrameworkCore.Tests.Infrastructure;

namespace Outbox.EntityFrameworkCore.Tests.Publishing;

/// <summary>The payload limit is enforced by <c>Publish</c> itself, before anything reaches the unit of work.</summary>
public sealed class PublishPayloadLimitTests : IDisposable
{
    private readonly SqliteConnection _connection = new("Data Source=:memory:");

    public PublishPayloadLimitTests() => _connection.Open();

    public void Dispose() => _connection.Dispose();

    [Fact]
    public async Task Publish_PayloadOverTheConfiguredLimit_ThrowsNamingTheOptionAndNothingIsCommitted()
    {
        var services = new ServiceCollection();
        services.Configure<OutboxDispatcherOptions>(o => o.MaxPayloadSize = 100);
        services.AddDbContext<TestDbContext>((sp, o) => o.UseSqlite(_connection).UseOutbox(sp));
        await using var provider = services.BuildServiceProvider();
        await using var scope = provider.CreateAsyncScope();
        var context = scope.ServiceProvider.GetRequiredService<TestDbContext>();
        await context.Database.EnsureCreatedAsync(TestContext.Current.CancellationToken);

        var error = Assert.Throws<ArgumentException>(() => context.Publish(new { Text = new string('x', 200) }));
        Assert.Contains("MaxPayloadSize", error.Message, StringComparison.Ordinal);
        Assert.Contains("more than the outbox accepts", error.Message, StringComparison.Ordinal);
        Assert.Empty(context.ChangeTracker.Entries<OutboxRecord>());

        context.Publish(new { Text = "small" });
        await context.SaveChangesAsync(TestContext.Current.CancellationToken);
        Assert.Equal(1, await context.Set<OutboxRecord>().CountAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public void Publish_PayloadOverTheDefaultLimit_Throws()
    {
        using var context = new TestDbContext(new DbContextOptionsBuilder<TestDbContext>().UseSqlite(_connection).UseOutbox().Options);

        var error = Assert.Throws<ArgumentException>(() => context.Publish(new { Text = new string('x', (4 * 1024 * 1024) + 1) }));
        Assert.Contains($"= {4 * 1024 * 1024})", error.Message, StringComparison.Ordinal);
        Assert.Empty(context.ChangeTracker.Entries<OutboxRecord>());
    }
}
