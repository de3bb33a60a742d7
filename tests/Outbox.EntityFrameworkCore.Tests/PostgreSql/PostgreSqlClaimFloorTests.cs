using System.Diagnostics;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Outbox.EntityFrameworkCore.PostgreSql;
using Outbox.EntityFrameworkCore.Tests.Infrastructure;
using Outbox.Transport.InMemory;

namespace Outbox.EntityFrameworkCore.Tests.PostgreSql;

/// <summary>
/// The claim floor (<see cref="OutboxPostgreSqlOptions.ClaimFloorRefreshInterval"/>): claims scan from the lowest id
/// last read, so a row that commits with an id below it (its transaction took the id before later rows were delivered)
/// waits for the next read of the floor, and no longer than that.
/// </summary>
public sealed class PostgreSqlClaimFloorTests(PostgreSqlFixture fixture) : IClassFixture<PostgreSqlFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task LateCommitBelowTheFloor_IsClaimedAtTheNextReadOfTheFloor()
    {
        await using var database = await fixture.CreateDatabaseAsync();
        var interval = TimeSpan.FromSeconds(2);
        using var host = OutboxTestHost.Build(
            database, new InMemoryTransport(), o => o.Enabled = false,
            services: s => s.Configure<OutboxPostgreSqlOptions>(o => o.ClaimFloorRefreshInterval = interval));
        var store = host.Services.GetRequiredService<IOutboxStore>();
        var owner = Guid.NewGuid();

        // A long transaction takes the lower id and keeps it uncommitted while a later message is delivered.
        await using var slow = database.CreateContext();
        await using var transaction = await slow.Database.BeginTransactionAsync(Ct);
        var lateId = slow.Publish(new OrderPlaced(Guid.NewGuid(), "late", 1));
        await slow.SaveChangesAsync(Ct);
        await using (var quick = database.CreateContext())
        {
            quick.Publish(new OrderPlaced(Guid.NewGuid(), "early", 2));
            await quick.SaveChangesAsync(Ct);
        }

        var early = Assert.Single(await store.ClaimAsync(owner, 10, TimeSpan.FromSeconds(30), Ct));
        await store.AcknowledgeAsync(owner, [early.Position], Ct);
        await Task.Delay(interval + TimeSpan.FromMilliseconds(200), Ct);
        Assert.Empty(await store.ClaimAsync(owner, 10, TimeSpan.FromSeconds(30), Ct)); // reads the floor: past "early"

        await transaction.CommitAsync(Ct);
        var committed = Stopwatch.StartNew();
        Assert.Empty(await store.ClaimAsync(owner, 10, TimeSpan.FromSeconds(30), Ct)); // below the floor: not yet

        IReadOnlyList<OutboxMessage> late = [];
        while (late.Count == 0 && committed.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(50, Ct);
            late = await store.ClaimAsync(owner, 10, TimeSpan.FromSeconds(30), Ct);
        }

        Assert.Equal(lateId, Assert.Single(late).MessageId);
        Assert.True(committed.Elapsed < interval + TimeSpan.FromSeconds(1), $"Claimed {committed.Elapsed.TotalMilliseconds:0} ms after its commit; the floor is read every {interval.TotalSeconds} s.");
        Assert.True(late[0].Position < early.Position);
    }

    [Fact]
    public async Task FloorRefreshZero_EveryClaimScansFromTheStart()
    {
        await using var database = await fixture.CreateDatabaseAsync();
        using var host = OutboxTestHost.Build(
            database, new InMemoryTransport(), o => o.Enabled = false,
            services: s => s.Configure<OutboxPostgreSqlOptions>(o => o.ClaimFloorRefreshInterval = TimeSpan.Zero));
        var store = host.Services.GetRequiredService<IOutboxStore>();
        var owner = Guid.NewGuid();

        await using var slow = database.CreateContext();
        await using var transaction = await slow.Database.BeginTransactionAsync(Ct);
        var lateId = slow.Publish(new OrderPlaced(Guid.NewGuid(), "late", 1));
        await slow.SaveChangesAsync(Ct);
        await using (var quick = database.CreateContext())
        {
            quick.Publish(new OrderPlaced(Guid.NewGuid(), "early", 2));
            await quick.SaveChangesAsync(Ct);
        }

        var early = Assert.Single(await store.ClaimAsync(owner, 10, TimeSpan.FromSeconds(30), Ct));
        await store.AcknowledgeAsync(owner, [early.Position], Ct);
        await transaction.CommitAsync(Ct);

        Assert.Equal(lateId, Assert.Single(await store.ClaimAsync(owner, 10, TimeSpan.FromSeconds(30), Ct)).MessageId);
    }
}
