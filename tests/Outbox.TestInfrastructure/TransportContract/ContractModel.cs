using System.Collections.Concurrent;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Outbox.TestInfrastructure.TransportContract;

/// <summary>The producer's database: orders and the outbox.</summary>
public sealed class ContractOrdersDb(DbContextOptions<ContractOrdersDb> options) : DbContext(options)
{
    /// <summary>The orders.</summary>
    public DbSet<ContractOrder> Orders => Set<ContractOrder>();

    /// <inheritdoc />
    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<ContractOrder>(e =>
        {
            e.ToTable("orders");
            e.HasKey(x => x.Id);
        });
        modelBuilder.AddOutbox();
    }
}

/// <summary>The consumer's database: payments (the handler's effect) and the inbox.</summary>
public sealed class ContractPaymentsDb(DbContextOptions<ContractPaymentsDb> options) : DbContext(options)
{
    /// <summary>One row per handler execution that committed.</summary>
    public DbSet<ContractPayment> Payments => Set<ContractPayment>();

    /// <inheritdoc />
    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<ContractPayment>(e =>
        {
            e.ToTable("payments");
            e.HasKey(x => x.Id);
        });
        modelBuilder.AddInbox();
    }
}

/// <summary>An order.</summary>
public sealed class ContractOrder
{
    /// <summary>The id.</summary>
    public Guid Id { get; set; } = Guid.CreateVersion7();

    /// <summary>The order number (a failing handler is chosen by its prefix).</summary>
    public required string Number { get; set; }
}

/// <summary>One row per handler execution that committed. No unique constraint: a duplicate effect would show.</summary>
public sealed class ContractPayment
{
    /// <summary>The id.</summary>
    public Guid Id { get; set; } = Guid.CreateVersion7();

    /// <summary>The message handled.</summary>
    public Guid MessageId { get; set; }

    /// <summary>The order paid.</summary>
    public Guid OrderId { get; set; }

    /// <summary>The order number.</summary>
    public required string Number { get; set; }
}

/// <summary>The message of the suite.</summary>
public sealed record ContractOrderPlaced(Guid OrderId, string Number);

/// <summary>What the handler saw, in handling order; shared by the test and its hosts.</summary>
public sealed class ContractProbe
{
    private int _invocations;

    /// <summary>How many times the handler ran (including runs whose transaction rolled back).</summary>
    public int Invocations => Volatile.Read(ref _invocations);

    /// <summary>The context of each run, in the order the handler ran.</summary>
    public ConcurrentQueue<MessageContext> Contexts { get; } = new();

    internal void Invoked(MessageContext context)
    {
        Interlocked.Increment(ref _invocations);
        Contexts.Enqueue(context);
    }
}

/// <summary>Pays the order: adds a payment row; the inbox saves and commits it with the inbox record.</summary>
public sealed class ContractOrderPlacedHandler(ContractPaymentsDb db, ContractProbe probe) : IMessageHandler<ContractOrderPlaced>
{
    /// <inheritdoc />
    public Task HandleAsync(ContractOrderPlaced message, MessageContext context, CancellationToken cancellationToken)
    {
        probe.Invoked(context);
        db.Payments.Add(new ContractPayment { MessageId = context.MessageId, OrderId = message.OrderId, Number = message.Number });
        return Task.CompletedTask;
    }
}

/// <summary>Makes the handler's unit of work fail for orders whose number starts with a prefix.</summary>
public sealed class FailPaymentsOf(string prefix) : SaveChangesInterceptor
{
    /// <inheritdoc />
    public override ValueTask<InterceptionResult<int>> SavingChangesAsync(DbContextEventData eventData, InterceptionResult<int> result, CancellationToken cancellationToken = default) =>
        eventData.Context!.ChangeTracker.Entries<ContractPayment>().Any(e => e.Entity.Number.StartsWith(prefix, StringComparison.Ordinal))
            ? throw new InvalidOperationException("payment refused on purpose")
            : ValueTask.FromResult(result);
}

/// <summary>Records every inbox outcome of a consumer, by wrapping its <see cref="IInboxProcessor"/>.</summary>
public sealed class ContractOutcomes
{
    /// <summary>Every outcome, in the order they happened.</summary>
    public ConcurrentQueue<(string? MessageId, InboxOutcomeKind Kind, bool Redelivered)> Outcomes { get; } = new();

    /// <summary>How many outcomes of <paramref name="kind"/> there were.</summary>
    public int Count(InboxOutcomeKind kind) => Outcomes.Count(o => o.Kind == kind);

    /// <summary>Replaces consumer <paramref name="consumer"/>'s processor registration with a recording wrapper.</summary>
    public void Attach(IServiceCollection services, string consumer)
    {
        var original = services.Single(d => d.IsKeyedService && d.ServiceType == typeof(IInboxProcessor) && Equals(d.ServiceKey, consumer));
        services.Remove(original);
        services.AddKeyedSingleton<IInboxProcessor>(consumer, (sp, key) => new Recording((IInboxProcessor)original.KeyedImplementationFactory!(sp, key), this));
    }

    private sealed class Recording(IInboxProcessor inner, ContractOutcomes recorder) : IInboxProcessor
    {
        public async Task<InboxOutcome> ProcessAsync(string consumer, IncomingMessage message, CancellationToken cancellationToken)
        {
            var outcome = await inner.ProcessAsync(consumer, message, cancellationToken);
            recorder.Outcomes.Enqueue((message.MessageId, outcome.Kind, message.Redelivered));
            return outcome;
        }

        public async Task<IReadOnlyList<InboxOutcome>?> ProcessBatchAsync(string consumer, IReadOnlyList<IncomingMessage> messages, CancellationToken cancellationToken)
        {
            var outcomes = await inner.ProcessBatchAsync(consumer, messages, cancellationToken);
            for (var i = 0; outcomes is not null && i < outcomes.Count; i++)
            {
                recorder.Outcomes.Enqueue((messages[i].MessageId, outcomes[i].Kind, messages[i].Redelivered));
            }

            return outcomes;
        }

        public async Task<InboxOutcome> DeadLetterAsync(string consumer, IncomingMessage message, string reason, int attempts, CancellationToken cancellationToken)
        {
            var outcome = await inner.DeadLetterAsync(consumer, message, reason, attempts, cancellationToken);
            recorder.Outcomes.Enqueue((message.MessageId, outcome.Kind, message.Redelivered));
            return outcome;
        }
    }
}

/// <summary>Writes the hosts' warnings and errors into the current test's output, to explain a failure.</summary>
public sealed class ContractTestOutputLoggerProvider : ILoggerProvider
{
    /// <inheritdoc />
    public ILogger CreateLogger(string categoryName) => new Logger(categoryName[(categoryName.LastIndexOf('.') + 1)..]);

    /// <inheritdoc />
    public void Dispose()
    {
    }

    private sealed class Logger(string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            try
            {
                TestContext.Current.TestOutputHelper?.WriteLine(
                    $"{DateTime.UtcNow:HH:mm:ss.fff} {logLevel} {category}[{eventId.Id}] {formatter(state, exception)}" +
                    (exception is null ? "" : $" ({exception.GetType().Name}: {exception.Message})"));
            }
            catch (InvalidOperationException)
            {
                // Logged after the test ended.
            }
        }
    }
}
