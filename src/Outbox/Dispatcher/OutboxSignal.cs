namespace Outbox;

/// <summary>
/// Wakes idle dispatcher loops in this process: a publisher calls <see cref="Notify"/> after its transaction commits,
/// so delivery does not wait for the polling interval.
/// </summary>
public sealed class OutboxSignal
{
    private TaskCompletionSource _current = NewSource();

    /// <summary>Wakes every loop waiting now, and makes the next wait of a loop that is busy return at once.</summary>
    public void Notify() => Interlocked.Exchange(ref _current, NewSource()).TrySetResult();

    /// <summary>
    /// A task that completes at the next <see cref="Notify"/>. Take it BEFORE looking for work, then wait on it only
    /// when none was found, so a notification that arrives in between is not missed.
    /// </summary>
    internal Task NextNotification => Volatile.Read(ref _current).Task;

    private static TaskCompletionSource NewSource() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
