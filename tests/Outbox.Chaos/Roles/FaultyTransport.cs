namespace Outbox.Chaos.Roles;

/// <summary>
/// Injects transport faults in front of the real transport: half of them fail before anything reaches the broker, the
/// other half after the broker accepted the message (a lost confirm: the dispatcher will send it again).
/// </summary>
public sealed class FaultyTransport(IMessageTransport inner, double faultRate, int seed) : IMessageTransport
{
    private readonly Random _random = new(seed);

    public long Injected => Interlocked.Read(ref _injected);

    private long _injected;

    public async Task SendAsync(OutboxMessage message, CancellationToken cancellationToken)
    {
        double draw;
        lock (_random)
        {
            draw = _random.NextDouble();
        }

        if (draw < faultRate / 2)
        {
            Interlocked.Increment(ref _injected);
            throw new IOException("chaos: publish failed before reaching the broker");
        }

        await inner.SendAsync(message, cancellationToken).ConfigureAwait(false);
        if (draw < faultRate)
        {
            Interlocked.Increment(ref _injected);
            throw new IOException("chaos: the broker's confirm was lost");
        }
    }
}
