using System.Collections.Concurrent;

namespace Outbox;

/// <summary>
/// When each dispatcher loop of this process last completed a claim. The dispatcher beats it once per loop
/// iteration; the <c>outbox-dispatcher</c> health check reports a loop that has not beaten for a while (hung in a
/// send, or unable to reach the database). A singleton, registered by <c>AddOutbox()</c> and
/// <c>AddOutboxHealthChecks()</c>.
/// </summary>
public sealed class OutboxDispatcherHeartbeat
{
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<Guid, long> _loops = new();

    /// <summary>Creates the heartbeat; <see cref="StartedAt"/> is now.</summary>
    public OutboxDispatcherHeartbeat(TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(timeProvider);
        _time = timeProvider;
        StartedAt = timeProvider.GetUtcNow();
    }

    /// <summary>When the heartbeat was created (about when the host started): the reference for loops that never beat.</summary>
    public DateTimeOffset StartedAt { get; }

    /// <summary>The last beat of each loop that has beaten, by the loop's lease owner id.</summary>
    public IReadOnlyDictionary<Guid, DateTimeOffset> Loops =>
        _loops.ToDictionary(static p => p.Key, static p => new DateTimeOffset(p.Value, TimeSpan.Zero));

    /// <summary>The most recent beat of any loop, or <see langword="null"/> before the first.</summary>
    public DateTimeOffset? LastBeat => _loops.IsEmpty ? null : new DateTimeOffset(_loops.Values.Max(), TimeSpan.Zero);

    /// <summary>Records that <paramref name="loop"/> completed an iteration now.</summary>
    public void Beat(Guid loop) => _loops[loop] = _time.GetUtcNow().UtcTicks;

    /// <summary>The last failure of a loop (a claim or write that threw), and when; <see langword="null"/> before the first.</summary>
    internal (DateTimeOffset At, string Error)? LastFailure => Volatile.Read(ref _lastFailure)?.Value;

    /// <summary>Records that a loop's claim or write failed with <paramref name="exception"/>.</summary>
    internal void Failed(Exception exception) =>
        Volatile.Write(ref _lastFailure, new System.Runtime.CompilerServices.StrongBox<(DateTimeOffset, string)>((_time.GetUtcNow(), $"{exception.GetType().Name}: {exception.Message}")));

    private System.Runtime.CompilerServices.StrongBox<(DateTimeOffset, string)>? _lastFailure;

    /// <summary>Forgets <paramref name="loop"/> (it stopped).</summary>
    public void Stopped(Guid loop) => _loops.TryRemove(loop, out _);
}
