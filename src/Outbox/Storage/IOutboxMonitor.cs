namespace Outbox;

/// <summary>
/// Cheap read-only queries about the outbox's state, for metrics and health checks. Implemented by the stores.
/// </summary>
public interface IOutboxMonitor
{
    /// <summary>Reads the backlog: pending messages (counted up to a cap), the oldest one's age, dead letters.</summary>
    Task<OutboxBacklog> GetBacklogAsync(CancellationToken cancellationToken);
}

/// <summary>A reading of the outbox's backlog.</summary>
/// <param name="Pending">Messages waiting in the outbox, counted up to <see cref="CountCap"/>.</param>
/// <param name="OldestCreatedAt">When the oldest waiting message was published; <see langword="null"/> when none waits.</param>
/// <param name="DeadLetters">Messages in the dead-letter table, counted up to <see cref="CountCap"/>.</param>
/// <param name="ReadAt">When this reading was taken.</param>
public readonly record struct OutboxBacklog(long Pending, DateTimeOffset? OldestCreatedAt, long DeadLetters, DateTimeOffset ReadAt)
{
    /// <summary>Counts stop at this value so that a huge backlog never makes the query itself slow.</summary>
    public const long CountCap = 1_000_000;

    /// <summary>The oldest waiting message's age at <see cref="ReadAt"/>, or zero.</summary>
    public TimeSpan OldestAge => OldestCreatedAt is { } oldest && ReadAt > oldest ? ReadAt - oldest : TimeSpan.Zero;
}
