using System.Collections.Concurrent;

namespace Outbox;

/// <summary>The state of a destination's circuit breaker, as the dispatcher last saw it.</summary>
internal enum OutboxCircuitState
{
    /// <summary>Sends go through.</summary>
    Closed,

    /// <summary>Sends are refused until the break is over.</summary>
    Open,

    /// <summary>The break is over; one probe send is in flight and the others are refused.</summary>
    HalfOpen,
}

/// <summary>One destination's circuit: since when it is in its state, the endpoint failure that opened it, and how
/// many sends it refused since.</summary>
/// <param name="Destination">The destination (<see cref="OutboxMessage.Destination"/>).</param>
/// <param name="State">Open, half-open or closed.</param>
/// <param name="Since">When the circuit entered <paramref name="State"/>.</param>
/// <param name="CauseType">The full type name of the endpoint failure that opened it (null when closed).</param>
/// <param name="Cause">That failure's message (null when closed).</param>
/// <param name="CauseAt">When that failure happened.</param>
/// <param name="Refused">Sends refused by the open circuit since it opened.</param>
internal sealed record OutboxEndpointState(
    string Destination,
    OutboxCircuitState State,
    DateTimeOffset Since,
    string? CauseType,
    string? Cause,
    DateTimeOffset? CauseAt,
    long Refused);

/// <summary>
/// The circuits of one outbox's destinations (one per service provider, like the per-destination Polly pipelines of
/// <see cref="OutboxTransportPipeline"/>). The dispatcher reports each send's outcome: an endpoint failure is kept as the
/// destination's last cause, a send refused by the circuit opens it here (with the cause Polly kept as the
/// <c>BrokenCircuitException</c>'s inner exception, else the last endpoint failure), and a delivered send closes it.
/// Only destinations that have failed are tracked, at most <see cref="MaxDestinations"/>.
/// </summary>
internal sealed class OutboxEndpointStates(TimeProvider timeProvider)
{
    /// <summary>The most destinations tracked; further ones are not, until a tracked one is closed and forgotten.</summary>
    public const int MaxDestinations = 1000;

    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);

    /// <summary>An endpoint failure of a send to <paramref name="destination"/>.</summary>
    public void EndpointFailed(string destination, Exception exception)
    {
        if (GetOrAdd(destination) is not { } entry)
        {
            return;
        }

        lock (entry)
        {
            entry.LastFailureType = exception.GetType().FullName;
            entry.LastFailure = exception.Message;
            entry.LastFailureAt = timeProvider.GetUtcNow();
            if (entry.State == OutboxCircuitState.HalfOpen)
            {
                // The probe failed: the circuit opens again, for this failure.
                entry.State = OutboxCircuitState.Open;
                entry.Since = entry.LastFailureAt.Value;
                entry.SetCause(entry.LastFailureType, entry.LastFailure, entry.LastFailureAt);
            }
        }
    }

    /// <summary>
    /// <paramref name="count"/> sends to <paramref name="destination"/> refused by its circuit; <paramref name="halfOpen"/>
    /// when a probe is in flight. <paramref name="cause"/> is the endpoint failure that opened it, when Polly kept it.
    /// </summary>
    public void Refused(string destination, int count, bool halfOpen, Exception? cause)
    {
        if (GetOrAdd(destination) is not { } entry)
        {
            return;
        }

        lock (entry)
        {
            var state = halfOpen ? OutboxCircuitState.HalfOpen : OutboxCircuitState.Open;
            if (entry.State == OutboxCircuitState.Closed)
            {
                entry.Refused = 0;
                entry.Since = timeProvider.GetUtcNow();
            }
            else if (entry.State != state)
            {
                entry.Since = timeProvider.GetUtcNow();
            }

            entry.State = state;
            entry.Refused += count;
            if (cause is not null)
            {
                entry.SetCause(cause.GetType().FullName, cause.Message, entry.CauseAt ?? entry.LastFailureAt);
            }
            else if (entry.CauseType is null && entry.LastFailureType is not null)
            {
                entry.SetCause(entry.LastFailureType, entry.LastFailure, entry.LastFailureAt);
            }
        }
    }

    /// <summary>A send to <paramref name="destination"/> was delivered: its circuit is closed.</summary>
    public void Delivered(string destination)
    {
        if (!_entries.TryGetValue(destination, out var entry))
        {
            return;
        }

        lock (entry)
        {
            if (entry.State != OutboxCircuitState.Closed)
            {
                entry.State = OutboxCircuitState.Closed;
                entry.Since = timeProvider.GetUtcNow();
                entry.SetCause(null, null, null);
            }
        }
    }

    /// <summary>
    /// The endpoint failure to name for a send refused by <paramref name="destination"/>'s circuit when Polly kept no
    /// inner exception: the last one seen, as "Type: message", or null.
    /// </summary>
    public string? LastFailure(string destination)
    {
        if (!_entries.TryGetValue(destination, out var entry))
        {
            return null;
        }

        lock (entry)
        {
            return entry.CauseType is not null ? $"{entry.CauseType}: {entry.Cause}"
                : entry.LastFailureType is not null ? $"{entry.LastFailureType}: {entry.LastFailure}"
                : null;
        }
    }

    /// <summary>The tracked destinations, open and half-open circuits first, then by destination.</summary>
    public IReadOnlyList<OutboxEndpointState> Snapshot()
    {
        var states = new List<OutboxEndpointState>(_entries.Count);
        foreach (var (destination, entry) in _entries)
        {
            lock (entry)
            {
                states.Add(new OutboxEndpointState(destination, entry.State, entry.Since, entry.CauseType, entry.Cause, entry.CauseAt, entry.Refused));
            }
        }

        return states
            .OrderBy(s => s.State == OutboxCircuitState.Closed ? 1 : 0)
            .ThenBy(s => s.Destination, StringComparer.Ordinal)
            .ToList();
    }

    private Entry? GetOrAdd(string destination)
    {
        if (_entries.TryGetValue(destination, out var entry))
        {
            return entry;
        }

        if (_entries.Count >= MaxDestinations)
        {
            // Forget closed circuits first; when every tracked one is open, do not grow.
            foreach (var (key, value) in _entries)
            {
                if (value.State == OutboxCircuitState.Closed)
                {
                    _entries.TryRemove(key, out _);
                }
            }

            if (_entries.Count >= MaxDestinations)
            {
                return null;
            }
        }

        return _entries.GetOrAdd(destination, static (_, now) => new Entry { Since = now }, timeProvider.GetUtcNow());
    }

    private sealed class Entry
    {
        public OutboxCircuitState State { get; set; }

        public DateTimeOffset Since { get; set; }

        public string? CauseType { get; private set; }

        public string? Cause { get; private set; }

        public DateTimeOffset? CauseAt { get; private set; }

        public long Refused { get; set; }

        public string? LastFailureType { get; set; }

        public string? LastFailure { get; set; }

        public DateTimeOffset? LastFailureAt { get; set; }

        public void SetCause(string? type, string? message, DateTimeOffset? at)
        {
            CauseType = type;
            Cause = message;
            CauseAt = at;
        }
    }
}
