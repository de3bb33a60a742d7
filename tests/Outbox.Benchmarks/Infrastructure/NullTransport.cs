using System.Diagnostics;

namespace Outbox.Benchmarks.Infrastructure;

/// <summary>
/// A transport that accepts every message at once and counts it: what is measured is the outbox, not a broker.
/// Shared by every dispatcher host of a run. <see cref="OnDelivered"/> gets the delivery timestamp
/// (<see cref="Stopwatch.GetTimestamp"/>) for latency measurement.
/// </summary>
public sealed class NullTransport : IMessageTransport
{
    private long _delivered;

    public long Delivered => Interlocked.Read(ref _delivered);

    public Action<OutboxMessage, long>? OnDelivered { get; set; }

    public Task SendAsync(OutboxMessage message, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _delivered);
        OnDelivered?.Invoke(message, Stopwatch.GetTimestamp());
        return Task.CompletedTask;
    }

    public void Reset() => Interlocked.Exchange(ref _delivered, 0);
}
