namespace Outbox;

/// <summary>
/// Wakes idle dispatcher loops. A publisher calls <see cref="NotifyCommitted()"/> once a unit of work that published has
/// committed: loops in this process wake at once, and cross-process wake-ups (PostgreSQL LISTEN/NOTIFY) subscribe to
/// <see cref="Committed"/>. Polling remains the fallback.
/// </summary>
public sealed class OutboxSignal
{
    private TaskCompletionSource _current = NewSource();
    private long _commits;

    /// <summary>Raised by <see cref="NotifyCommitted()"/>; handlers must return quickly and must not throw.</summary>
    public event Action? Committed;

    /// <summary>Wakes every loop of this process waiting now, and makes the next wait of a busy loop return at once.</summary>
    public void Notify() => Interlocked.Exchange(ref _current, NewSource()).TrySetResult();

    /// <summary>Messages were committed: wakes this process's loops and tells the cross-process notifiers.</summary>
    public void NotifyCommitted()
    {
        NotifyCommits();
        Committed?.Invoke();
    }

    /// <summary>
    /// How many notifications announced commits (<see cref="NotifyCommitted()"/>, a routed commit, a cross-process
    /// notification), as opposed to other wake-ups (a listener's start, a test's nudge). A loop that sees it move while
    /// it waited knows that commits announce themselves, and can wait for the next one instead of polling soon.
    /// </summary>
    internal long Commits => Interlocked.Read(ref _commits);

    /// <summary>Commits were announced (by this process's publishers, a tenant's routed commit, or a NOTIFY from another process): wakes the loops.</summary>
    internal void NotifyCommits()
    {
        Interlocked.Increment(ref _commits);
        Notify();
    }

    /// <summary>
    /// Set by a database-per-tenant outbox: wakes the dispatcher of the tenant whose database a commit went to (given
    /// its connection string), instead of this signal's own waiters.
    /// </summary>
    internal Action<string?>? CommitRouter { get; set; }

    /// <summary>Whether commits are routed by database (<see cref="NotifyCommitted(string?)"/> is worth calling).</summary>
    internal bool RoutesCommits => CommitRouter is not null;

    /// <summary>Messages were committed to the database of <paramref name="connectionString"/>.</summary>
    internal void NotifyCommitted(string? connectionString)
    {
        if (CommitRouter is { } route)
        {
            route(connectionString);
            Committed?.Invoke();
            return;
        }

        NotifyCommitted();
    }

    /// <summary>
    /// A task that completes at the next <see cref="Notify"/>. Take it BEFORE looking for work, then wait on it only
    /// when none was found, so a notification that arrives in between is not missed.
    /// </summary>
    internal Task NextNotification => Volatile.Read(ref _current).Task;

    private static TaskCompletionSource NewSource() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
