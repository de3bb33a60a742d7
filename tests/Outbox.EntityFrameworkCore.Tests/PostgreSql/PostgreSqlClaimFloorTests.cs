using System.Diagnostics;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Outbox.EntityFrameworkCore.PostgreSql;
using Outbox.EntityFrameworkCore.Tests.Infrastructure;
using Outbox.Transport.InMemory;

namespace Outbox.EntityFrameworkCore.Tests.PostgreSql;

/// <summary>
/// The claim floor (<see cref="OutboxPostgreSqlOptions.ClaimFloorLag"/>): claims scan from the lowest id the table had
/// when every transaction then running had ended, and at least a lag ago. A message is claimed as soon as it commits,
/// however long its transaction took and whatever was delivered meanwhile; a row that lands below the floor anyway is
/// found by the next read from the start of the table (<see cref="OutboxPostgreSqlOptions.ClaimFloorRescanInterval"/>),
/// and no later than that.
/// </summary>
public sealed class PostgreSqlClaimFloorTests(PostgreSqlFixture fixture) : IClassFixture<PostgreSqlFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task TransactionOpenFarLongerThanTheLag_IsClaimedAsSoonAsItCommits()
    {
        await using var database = await fixture.CreateDatabaseAsync();
        // No rescan can rescue it in this test.
        using var host = BuildFloorHost(database, lag: TimeSpan.FromMilliseconds(100), rescan: TimeSpan.FromMinutes(5));
        var store = host.Services.GetRequiredService<IOutboxStore>();
        var owner = Guid.NewGuid();

        // A long transaction takes the lower id and keeps it uncommitted, at least 10× the lag and at least 10 rounds
        // (counted, so that a slow machine does not shorten the test to a round or two), while later messages are
        // delivered and the floor is read again and again.
        await using var slow = await OpenPublish.WriteAsync(database);
        var delivered = new List<long>();
        var open = Stopwatch.StartNew();
        for (var round = 0; round < 10 || open.Elapsed < TimeSpan.FromSeconds(1); round++)
        {
            await PublishAsync(database, "early");
            delivered.AddRange(await DeliverAllAsync(store, owner));

            await Task.Delay(50, Ct);
        }

        await slow.CommitAsync();

        // A floor read after the commit, while the late row is locked so that the claim starting it skips the row: it
        // ripens the candidates read while the transaction was open, all above the late id. The floor must not rise
        // past the row it now sees.
        await using (var locker = database.CreateContext())
        await using (var lockTransaction = await locker.Database.BeginTransactionAsync(Ct))
        {
            await locker.Database.ExecuteSqlAsync($"SELECT 1 FROM outbox_messages WHERE message_id = {slow.MessageId} FOR UPDATE", Ct);

            // Two floor reads end while the row is locked, so at least one of them started after the commit (each
            // claim starts one once the refresh interval has passed and none is running); counted, not timed.
            var floorStore = Assert.IsType<PostgreSqlOutboxStore<TestDbContext>>(store);
            var readsBefore = floorStore.FloorReads;
            var waiting = Stopwatch.StartNew();
            while (floorStore.FloorReads < readsBefore + 2)
            {
                Assert.True(waiting.Elapsed < TimeSpan.FromSeconds(60), "No floor read ended while the late row was locked.");
                Assert.Empty(await store.ClaimAsync(owner, 10, TimeSpan.FromSeconds(30), Ct));
                await Task.Delay(60, Ct);
            }

            await lockTransaction.CommitAsync(Ct);
        }

        var late = Assert.Single(await store.ClaimAsync(owner, 10, TimeSpan.FromSeconds(30), Ct));
        Assert.Equal(slow.MessageId, late.MessageId);
        Assert.True(delivered.Count >= 5, $"only {delivered.Count} later messages were delivered meanwhile");
        Assert.True(late.Position < delivered.Min()); // it really was below everything delivered before it
    }

    [Fact]
    public async Task LongTransactionWritingElsewhere_DoesNotHoldTheFloorBack()
    {
        // A session that wrote to another table and stays in its transaction (a batch job, a migration, a forgotten
        // "idle in transaction") keeps old row versions alive, which is when the floor matters most.
        await using var database = await fixture.CreateDatabaseAsync();
        // Only the floor's rise is watched here.
        using var host = BuildFloorHost(database, lag: TimeSpan.FromMilliseconds(100), rescan: TimeSpan.FromMinutes(5));
        var store = host.Services.GetRequiredService<IOutboxStore>();
        var owner = Guid.NewGuid();
        await using var other = database.CreateContext();
        await other.Database.ExecuteSqlRawAsync("CREATE TABLE batch_job (n integer)", Ct);
        await using var longTransaction = await other.Database.BeginTransactionAsync(Ct);
        await other.Database.ExecuteSqlRawAsync("INSERT INTO batch_job VALUES (1)", Ct);

        // Progress is counted in floor reads, not seconds: with a read every claim (each round waits longer than the
        // refresh interval) the floor rises within a handful of reads (a candidate, one read a lag later that clears
        // it, one that takes it up), however slow the machine. Under the old rule (wait for every transaction on the
        // server) it never rose while the long transaction stayed open.
        const int ReadsAllowed = 40;
        var floorStore = Assert.IsType<PostgreSqlOutboxStore<TestDbContext>>(store);
        var earliest = long.MaxValue;
        var readsBefore = floorStore.FloorReads;
        while (floorStore.Floor <= earliest)
        {
            Assert.True(
                floorStore.FloorReads - readsBefore < ReadsAllowed,
                $"The floor ({floorStore.Floor}) did not rise above {earliest} in {ReadsAllowed} floor reads while another table's transaction stayed open.");
            await PublishAsync(database, "quick");
            earliest = Math.Min(earliest, (await DeliverAllAsync(store, owner)).DefaultIfEmpty(long.MaxValue).Min());
            await Task.Delay(TimeSpan.FromMilliseconds(60), Ct);
        }

        // Below the floor, a row given the id of one delivered before is not claimed: the floor really rose.
        await WriteWithIdAsync(database, earliest, "probe");
        Assert.Empty(await store.ClaimAsync(owner, 10, TimeSpan.FromSeconds(30), Ct));

        await longTransaction.RollbackAsync(Ct);
    }

    [Fact]
    public async Task RowBelowTheFloor_IsClaimedWithinTheRescanInterval()
    {
        await using var database = await fixture.CreateDatabaseAsync();
        var rescan = TimeSpan.FromSeconds(2);
        using var host = BuildFloorHost(database, lag: TimeSpan.FromMilliseconds(100), rescan: rescan);
        var store = host.Services.GetRequiredService<IOutboxStore>();
        var owner = Guid.NewGuid();

        var floorStore = Assert.IsType<PostgreSqlOutboxStore<TestDbContext>>(store);
        long earliest = long.MaxValue;
        var readsBefore = floorStore.FloorReads;
        while (floorStore.Floor <= earliest)
        {
            // The floor moves up past what was delivered within a handful of reads (see the test above).
            Assert.True(floorStore.FloorReads - readsBefore < 40, "The floor never rose above the messages delivered.");
            await PublishAsync(database, "early");
            earliest = Math.Min(earliest, (await DeliverAllAsync(store, owner)).DefaultIfEmpty(long.MaxValue).Min());
            await Task.Delay(60, Ct);
        }

        // A row that lands below the floor however it came there (here: given the id of one delivered before).
        await Task.Delay(200, Ct); // the floor read the last claim started has finished before the row is written
        var belowId = await WriteWithIdAsync(database, earliest, "below");
        var committed = Stopwatch.StartNew();
        IReadOnlyList<OutboxMessage> below = await store.ClaimAsync(owner, 10, TimeSpan.FromSeconds(30), Ct);

        // Committed and unlocked, yet a claim does not see it while it scans from the floor, above its id, until a read
        // from the start of the table (every rescan interval) lowers the floor to it.
        while (below.Count == 0 && committed.Elapsed < TimeSpan.FromSeconds(60))
        {
            await Task.Delay(50, Ct);
            below = await store.ClaimAsync(owner, 10, TimeSpan.FromSeconds(30), Ct);
        }

        Assert.Equal(belowId, Assert.Single(below).MessageId);

        // Generous for a loaded machine; without the rescan it would wait for the next one, 5 minutes by default.
        Assert.True(committed.Elapsed < rescan + TimeSpan.FromSeconds(10), $"Claimed {committed.Elapsed.TotalMilliseconds:0} ms after its commit; the floor is read from the start every {rescan.TotalSeconds} s.");
    }

    [Fact]
    public async Task CommitWithinTheLag_IsClaimedAtOnceThoughLaterMessagesWereDeliveredFirst()
    {
        // Concurrent publishers: the one that took the lower id commits a moment after the other, whose message is
        // delivered in between. The floor must not have passed it.
        await using var database = await fixture.CreateDatabaseAsync();
        // No rescan can rescue it in this test.
        using var host = BuildFloorHost(database, lag: TimeSpan.FromSeconds(3), rescan: TimeSpan.FromMinutes(5));
        var store = host.Services.GetRequiredService<IOutboxStore>();
        var owner = Guid.NewGuid();
        await using (var first = database.CreateContext())
        {
            first.Publish(new OrderPlaced(Guid.NewGuid(), "before", 0));
            await first.SaveChangesAsync(Ct);
        }

        var before = Assert.Single(await store.ClaimAsync(owner, 10, TimeSpan.FromSeconds(30), Ct));
        await store.AcknowledgeAsync(owner, [before.Position], Ct);

        await using var late = await OpenPublish.WriteAsync(database);
        for (var i = 0; i < 10; i++)
        {
            await PublishAsync(database, $"early-{i}");
            await DeliverAllAsync(store, owner);

            await Task.Delay(60, Ct); // the floor is read again and again meanwhile, the table empty each time
        }

        await late.CommitAsync();

        Assert.Equal(late.MessageId, Assert.Single(await store.ClaimAsync(owner, 10, TimeSpan.FromSeconds(30), Ct)).MessageId);
    }

    [Fact]
    public async Task RescanIntervalZero_TurnsTheFloorOff_EveryClaimScansFromTheStart()
    {
        await using var database = await fixture.CreateDatabaseAsync();
        using var host = BuildHost(database, o => o.ClaimFloorRescanInterval = TimeSpan.Zero);
        var store = host.Services.GetRequiredService<IOutboxStore>();
        var owner = Guid.NewGuid();

        await using var late = await OpenPublish.WriteAsync(database);
        await using (var quick = database.CreateContext())
        {
            quick.Publish(new OrderPlaced(Guid.NewGuid(), "early", 2));
            await quick.SaveChangesAsync(Ct);
        }

        var early = Assert.Single(await store.ClaimAsync(owner, 10, TimeSpan.FromSeconds(30), Ct));
        await store.AcknowledgeAsync(owner, [early.Position], Ct);
        await late.CommitAsync();

        Assert.Equal(late.MessageId, Assert.Single(await store.ClaimAsync(owner, 10, TimeSpan.FromSeconds(30), Ct)).MessageId);
    }

    private static async Task PublishAsync(TestDatabase database, string number)
    {
        await using var context = database.CreateContext();
        context.Publish(new OrderPlaced(Guid.NewGuid(), number, 2));
        await context.SaveChangesAsync(Ct);
    }

    /// <summary>Claims what is claimable now and acknowledges it; returns the positions delivered.</summary>
    private static async Task<IReadOnlyList<long>> DeliverAllAsync(IOutboxStore store, Guid owner)
    {
        var claimed = await store.ClaimAsync(owner, 10, TimeSpan.FromSeconds(30), Ct);
        var positions = claimed.Select(m => m.Position).ToList();
        if (positions.Count > 0)
        {
            await store.AcknowledgeAsync(owner, positions, Ct);
        }

        return positions;
    }

    /// <summary>Publishes a message and gives its row the id <paramref name="id"/> (one delivered before: free).</summary>
    private static async Task<Guid> WriteWithIdAsync(TestDatabase database, long id, string number)
    {
        await using var context = database.CreateContext();
        var messageId = context.Publish(new OrderPlaced(Guid.NewGuid(), number, 1));
        await context.SaveChangesAsync(Ct);
        Assert.Equal(1, await context.Database.ExecuteSqlAsync($"UPDATE outbox_messages SET id = {id} WHERE message_id = {messageId}", Ct));
        return messageId;
    }

    /// <summary>A host whose floor is read every 50 ms, with the given lag and rescan interval.</summary>
    private static IHost BuildFloorHost(TestDatabase database, TimeSpan lag, TimeSpan rescan) =>
        BuildHost(database, o =>
        {
            o.ClaimFloorLag = lag;
            o.ClaimFloorRefreshInterval = TimeSpan.FromMilliseconds(50);
            o.ClaimFloorRescanInterval = rescan;
        });

    private static IHost BuildHost(TestDatabase database, Action<OutboxPostgreSqlOptions> configure) =>
        OutboxTestHost.Build(database, new InMemoryTransport(), o => o.Enabled = false, services: s => s.Configure(configure));

    /// <summary>A publisher's transaction that has written its message, and so taken its id, but not committed yet.</summary>
    private sealed class OpenPublish : IAsyncDisposable
    {
        private readonly TestDbContext _context;
        private readonly IDbContextTransaction _transaction;

        private OpenPublish(TestDbContext context, IDbContextTransaction transaction, Guid messageId)
        {
            _context = context;
            _transaction = transaction;
            MessageId = messageId;
        }

        public Guid MessageId { get; }

        public static async Task<OpenPublish> WriteAsync(TestDatabase database)
        {
            var context = database.CreateContext();
            var transaction = await context.Database.BeginTransactionAsync(Ct);
            var id = context.Publish(new OrderPlaced(Guid.NewGuid(), "late", 1));
            await context.SaveChangesAsync(Ct);
            return new OpenPublish(context, transaction, id);
        }

        public Task CommitAsync() => _transaction.CommitAsync(Ct);

        public async ValueTask DisposeAsync()
        {
            await _transaction.DisposeAsync();
            await _context.DisposeAsync();
        }
    }
}
