using Microsoft.EntityFrameworkCore;
using Outbox.EntityFrameworkCore.Tests.Infrastructure;

namespace Outbox.EntityFrameworkCore.Tests.Contract;

/// <summary>Base of the contract classes: a fresh database per test, and small helpers.</summary>
public abstract class DatabaseTest<TFixture>(TFixture fixture) : IClassFixture<TFixture>, IAsyncLifetime
    where TFixture : class, IDatabaseFixture
{
    protected static readonly TimeSpan DeliveryTimeout = TimeSpan.FromSeconds(60);
    private TestDatabase? _database;

    protected TestDatabase Database => _database ?? throw new InvalidOperationException("Not initialized.");

    protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _database = await fixture.CreateDatabaseAsync();

    public async ValueTask DisposeAsync()
    {
        if (_database is not null)
        {
            await _database.DisposeAsync();
        }

        GC.SuppressFinalize(this);
    }

    /// <summary>Publishes <paramref name="count"/> unkeyed messages, 1,000 per transaction.</summary>
    protected async Task SeedAsync(int count)
    {
        for (var done = 0; done < count;)
        {
            await using var context = Database.CreateContext();
            var chunk = Math.Min(1000, count - done);
            for (var i = 0; i < chunk; i++)
            {
                context.Publish(new OrderPlaced(Guid.NewGuid(), $"S-{done + i}", i));
            }

            await context.SaveChangesAsync(Ct);
            done += chunk;
        }
    }

    protected async Task<int> CountOutboxAsync()
    {
        await using var check = Database.CreateContext();
        return await check.Set<OutboxRecord>().CountAsync(Ct);
    }

    protected async Task AssertOutboxEmptyAsync() => Assert.Equal(0, await CountOutboxAsync());

    protected static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + DeliveryTimeout;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting for: {what}");
            await Task.Delay(20, Ct);
        }
    }
}
