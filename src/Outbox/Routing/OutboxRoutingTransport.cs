using System.Collections.Concurrent;

namespace Outbox;

/// <summary>
/// Sends each message through the first route whose predicate accepts its destination, else through the default
/// transport. A destination that no route accepts in an outbox without a default transport is refused permanently, so
/// that the message is dead-lettered at once with the destination named, never retried. The choice is remembered per
/// destination (at most <see cref="MaxRemembered"/> of them). Batches pass through to a route's transport that takes
/// them (<see cref="IMessageBatchTransport"/>); the messages of other routes go one by one.
/// </summary>
internal sealed class OutboxRoutingTransport : IMessageBatchTransport
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
        return RequiredTransportFor(message.Destination).SendAsync(message, cancellationToken);
    }

    /// <inheritdoc/>
    public IReadOnlyList<IReadOnlyList<OutboxMessage>> Split(IReadOnlyList<OutboxMessage> messages)
    {
        ArgumentNullException.ThrowIfNull(messages);
        if (messages.Count > 0 && TransportFor(messages[0].Destination) is IMessageBatchTransport batches)
        {
            return batches.Split(messages);
        }

        // Not batched: each message a group of its own, so that SendAsync routes it (or refuses it) as usual.
        return [.. messages.Select(static m => (IReadOnlyList<OutboxMessage>)[m])];
    }

    /// <inheritdoc/>
    public Task<IReadOnlyList<Exception?>> SendBatchAsync(IReadOnlyList<OutboxMessage> messages, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(messages);
        if (messages.Count == 0)
        {
            return Task.FromResult<IReadOnlyList<Exception?>>([]);
        }

        // Split hands the dispatcher groups of one destination, hence of one transport; one that takes batches made them.
        return RequiredTransportFor(messages[0].Destination) is IMessageBatchTransport batches
            ? batches.SendBatchAsync(messages, cancellationToken)
            : throw new InvalidOperationException($"Destination '{messages[0].Destination}' of outbox '{_outbox}' goes through a transport that does not take batches.");
    }

    private IMessageTransport RequiredTransportFor(string destination) =>
        TransportFor(destination)
            ?? throw new PermanentDeliveryException(
                $"No transport route of outbox '{_outbox}' accepts destination '{destination}', and the outbox has no default transport. " +
                "Add a route for it (.UseX(...).ForDestinations(...)) or a default transport (a UseX(...) call without ForDestinations), then requeue the message.");

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
