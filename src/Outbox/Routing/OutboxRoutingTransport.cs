using System.Collections.Concurrent;

namespace Outbox;

/// <summary>
/// Sends each message through the first route whose predicate accepts its destination, else through the default
/// transport. A destination that no route accepts in an outbox without a default transport is refused permanently, so
/// that the message is dead-lettered at once with the destination named, never retried. The choice is remembered per
/// destination (at most <see cref="MaxRemembered"/> of them).
/// </summary>
internal sealed class OutboxRoutingTransport : IMessageTransport
{
    private const int MaxRemembered = 10_000;
    private readonly string _outbox;
    private readonly ResolvedRoute[] _routes;
    private readonly IMessageTransport? _fallback;
    private readonly ConcurrentDictionary<string, IMessageTransport?> _chosen = new(StringComparer.Ordinal);

    public OutboxRoutingTransport(string outbox, ResolvedRoute[] routes, IMessageTransport? fallback)
    {
        _outbox = outbox;
        _routes = routes;
        _fallback = fallback;
    }

    public Task SendAsync(OutboxMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        var transport = TransportFor(message.Destination)
            ?? throw new PermanentDeliveryException(
                $"No transport route of outbox '{_outbox}' accepts destination '{message.Destination}', and the outbox has no default transport. " +
                "Add a route for it (.UseX(...).ForDestinations(...)) or a default transport (a UseX(...) call without ForDestinations), then requeue the message.");
        return transport.SendAsync(message, cancellationToken);
    }

    /// <summary>The transport of <paramref name="destination"/>, or <see langword="null"/> when none takes it.</summary>
    public IMessageTransport? TransportFor(string destination)
    {
        if (_chosen.TryGetValue(destination, out var known))
        {
            return known;
        }

        var chosen = Array.Find(_routes, r => r.Accepts(destination))?.Transport ?? _fallback;
        if (_chosen.Count < MaxRemembered)
        {
            _chosen.TryAdd(destination, chosen);
        }

        return chosen;
    }

    internal sealed record ResolvedRoute(IMessageTransport Transport, Func<string, bool> Accepts);
}
