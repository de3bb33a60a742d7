using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.DependencyInjection;
using Outbox.EntityFrameworkCore.Tests.Infrastructure;

namespace Outbox.EntityFrameworkCore.Tests.Inbox;

/// <summary>
/// A consumer's DbContext: its business table (a ledger), an outbox of its own (handlers publish) and the inbox.
/// Its tables have names of their own, so they are created next to <see cref="TestDbContext"/>'s in the same database.
/// </summary>
public sealed class InboxTestDbContext(DbContextOptions<InboxTestDbContext> options) : DbContext(options)
{
    public DbSet<LedgerEntry> Ledger => Set<LedgerEntry>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<LedgerEntry>(e =>
        {
            e.ToTable("ledger_entries");
            e.HasKey(x => x.Id);
        });
        modelBuilder.AddOutbox(o =>
        {
            o.OutboxTable = "ledger_outbox";
            o.DeadLetterTable = "ledger_outbox_dead_letters";
            o.SequenceTable = "ledger_outbox_sequences";
        });
        modelBuilder.AddInbox();
    }

    /// <summary>Creates this context's tables in <paramref name="database"/> (which already holds TestDbContext's).</summary>
    public static async Task CreateTablesAsync(TestDatabase database)
    {
        await using var context = Create(database);
        await context.GetService<IRelationalDatabaseCreator>().CreateTablesAsync(TestContext.Current.CancellationToken);
    }

    public static InboxTestDbContext Create(TestDatabase database)
    {
        var builder = new DbContextOptionsBuilder<InboxTestDbContext>();
        database.Configure(builder);
        return new InboxTestDbContext(builder.Options);
    }
}

public sealed class LedgerEntry
{
    public Guid Id { get; set; } = Guid.CreateVersion7();

    public Guid MessageId { get; set; }

    public required string Account { get; set; }

    public long Amount { get; set; }
}

public sealed record AccountCredited(string Account, long Amount);

public sealed record CreditRecorded(string Account, long Amount);

/// <summary>What the test handler does, set by each test.</summary>
public sealed class HandlerBehaviour
{
    private int _failuresLeft;
    private int _invocations;

    /// <summary>How many of the next invocations throw after writing.</summary>
    public int FailuresLeft
    {
        get => Volatile.Read(ref _failuresLeft);
        set => Volatile.Write(ref _failuresLeft, value);
    }

    public bool AlwaysFail { get; set; }

    /// <summary>Every message for this account throws after writing.</summary>
    public string? FailAccount { get; set; }

    public bool Publish { get; set; }

    public TimeSpan Delay { get; set; }

    public int Invocations => Volatile.Read(ref _invocations);

    public MessageContext? LastContext { get; private set; }

    /// <summary>Per invocation: the message's trace id (from its traceparent) and the trace of the span current in the handler.</summary>
    public System.Collections.Concurrent.ConcurrentQueue<(string? MessageTrace, string? CurrentTrace)> Traces { get; } = new();

    public void Invoked(MessageContext context)
    {
        Interlocked.Increment(ref _invocations);
        LastContext = context;
        Traces.Enqueue((context.TraceParent?.Split('-')[1], System.Diagnostics.Activity.Current?.TraceId.ToHexString()));
    }

    public bool ShouldFail(string account) =>
        AlwaysFail || string.Equals(account, FailAccount, StringComparison.Ordinal) || Interlocked.Decrement(ref _failuresLeft) >= 0;
}

/// <summary>Writes a ledger entry (saved, so it really is in the database), maybe publishes, then maybe fails.</summary>
public sealed class CreditHandler(InboxTestDbContext db, HandlerBehaviour behaviour) : IMessageHandler<AccountCredited>
{
    public async Task HandleAsync(AccountCredited message, MessageContext context, CancellationToken cancellationToken)
    {
        behaviour.Invoked(context);
        db.Ledger.Add(new LedgerEntry { MessageId = context.MessageId, Account = message.Account, Amount = message.Amount });
        if (behaviour.Publish)
        {
            db.Publish(new CreditRecorded(message.Account, message.Amount), new PublishOptions { PartitionKey = message.Account });
        }

        await db.SaveChangesAsync(cancellationToken);
        if (behaviour.Delay > TimeSpan.Zero)
        {
            await Task.Delay(behaviour.Delay, cancellationToken);
        }

        if (behaviour.ShouldFail(message.Account))
        {
            throw new InvalidOperationException("the handler failed on purpose");
        }
    }
}
