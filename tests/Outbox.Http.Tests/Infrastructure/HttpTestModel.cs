using Microsoft.EntityFrameworkCore;

namespace Outbox.Http.Tests.Infrastructure;

public sealed record Greeting(string Text);

/// <summary>The sending service: an outbox and nothing else.</summary>
public sealed class SenderDb(DbContextOptions<SenderDb> options) : DbContext(options)
{
    protected override void OnModelCreating(ModelBuilder modelBuilder) => modelBuilder.AddOutbox();
}

/// <summary>The receiving service: its own table and the inbox.</summary>
public sealed class ReceiverDb(DbContextOptions<ReceiverDb> options) : DbContext(options)
{
    public DbSet<ReceivedGreeting> Greetings => Set<ReceivedGreeting>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<ReceivedGreeting>(e =>
        {
            e.ToTable("greetings");
            e.HasKey(x => x.Id);
        });
        modelBuilder.AddInbox();
    }
}

public sealed class ReceivedGreeting
{
    public long Id { get; set; }

    public Guid MessageId { get; set; }

    public string Text { get; set; } = "";

    public string? PartitionKey { get; set; }

    public long? SequenceNumber { get; set; }
}

/// <summary>Counts handler calls; the text "fail" makes the handler throw.</summary>
public sealed class GreetingCounter
{
    private int _calls;

    public int Calls => Volatile.Read(ref _calls);

    public MessageContext? Last { get; private set; }

    public void Called(MessageContext context)
    {
        Interlocked.Increment(ref _calls);
        Last = context;
    }
}

public sealed class GreetingHandler(ReceiverDb db, GreetingCounter counter) : IMessageHandler<Greeting>
{
    public Task HandleAsync(Greeting message, MessageContext context, CancellationToken cancellationToken)
    {
        counter.Called(context);
        if (message.Text == "fail")
        {
            throw new InvalidOperationException("this greeting always fails");
        }

        db.Greetings.Add(new ReceivedGreeting
        {
            MessageId = context.MessageId,
            Text = message.Text,
            PartitionKey = context.PartitionKey,
            SequenceNumber = context.SequenceNumber,
        });
        return Task.CompletedTask;
    }
}
