using System.Collections.Concurrent;
using Outbox.Benchmarks.Reporting;

namespace Outbox.Benchmarks.Infrastructure;

/// <summary>
/// Commit-to-delivery latency per message. A producer registers the message id before its commit and stamps the
/// commit's completion after it; the null transport stamps the delivery. Whichever comes second records the
/// difference and removes the entry, so memory holds only messages in flight. The dispatcher may deliver a message
/// before its producer has stamped the commit (a wake-up is faster than the return from <c>SaveChanges</c>): then the
/// delivery stores its own stamp (negated) and the producer records the difference, at least 0.
/// Messages never registered (the warm-up) are ignored.
/// </summary>
public sealed class LatencyTracker
{
    private const long Registered = 0;
    private readonly ConcurrentDictionary<Guid, long> _inFlight = new();
    private long _delivered;

    public LatencyHistogram Latency { get; } = new();

    public int InFlight => _inFlight.Count;

    /// <summary>Measured messages delivered so far.</summary>
    public long DeliveredCount => Interlocked.Read(ref _delivered);

    public void Register(Guid messageId) => _inFlight[messageId] = Registered;

    public void Abandon(Guid messageId) => _inFlight.TryRemove(messageId, out _);

    /// <summary>The producer's commit completed at <paramref name="timestamp"/> (Stopwatch ticks, always positive).</summary>
    public void Committed(Guid messageId, long timestamp)
    {
        if (_inFlight.TryUpdate(messageId, timestamp, Registered))
        {
            return;
        }

        // Delivered already: the entry holds the negated delivery stamp.
        if (_inFlight.TryRemove(messageId, out var negatedDelivery) && negatedDelivery < 0)
        {
            Record(-negatedDelivery - timestamp);
        }
    }

    /// <summary>The null transport accepted the message at <paramref name="timestamp"/>.</summary>
    public void OnDelivered(OutboxMessage message, long timestamp) => OnDelivered(message.MessageId, timestamp);

    /// <summary>Message <paramref name="id"/> arrived (was delivered, or its handler's transaction committed) at <paramref name="timestamp"/>.</summary>
    public void OnDelivered(Guid id, long timestamp)
    {
        if (!_inFlight.TryGetValue(id, out var committedAt) || committedAt < 0)
        {
            return; // not measured, or a redelivery
        }

        if (committedAt == Registered && _inFlight.TryUpdate(id, -timestamp, Registered))
        {
            return; // the producer records it when it stamps the commit
        }

        if (_inFlight.TryRemove(id, out committedAt) && committedAt > 0)
        {
            Record(timestamp - committedAt);
        }
    }

    private void Record(long ticks)
    {
        Latency.RecordTicks(ticks);
        Interlocked.Increment(ref _delivered);
    }
}
