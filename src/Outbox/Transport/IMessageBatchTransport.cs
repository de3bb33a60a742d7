namespace Outbox;

/// <summary>
/// A transport that can carry several messages of one destination in one round trip (one HTTP request, for example).
/// The dispatcher groups the messages of a claimed batch by destination, asks <see cref="Split"/> how they go together,
/// and sends each group of two or more with <see cref="SendBatchAsync"/> (a group of one with
/// <see cref="IMessageTransport.SendAsync"/>), each group through the destination's resilience pipeline, so that a
/// group failing at the endpoint counts once towards that destination's circuit breaker. Only messages already claimed
/// go together: a batch never waits to fill.
/// </summary>
public interface IMessageBatchTransport : IMessageTransport
{
    /// <summary>
    /// Splits <paramref name="messages"/> (all of one destination, in claim order) into the groups that are sent in one
    /// round trip each, within the transport's limits. Every message appears in exactly one group; a message the
    /// transport cannot batch (too large, no route) is a group of its own, so that
    /// <see cref="IMessageTransport.SendAsync"/> reports its failure as usual.
    /// </summary>
    IReadOnlyList<IReadOnlyList<OutboxMessage>> Split(IReadOnlyList<OutboxMessage> messages);

    /// <summary>
    /// Sends a group made by <see cref="Split"/> in one round trip and returns one entry per message, in order:
    /// <see langword="null"/> when the receiving side took responsibility for it, a <see cref="MessageRejectedException"/>
    /// when it refused that message alone (a <see cref="PermanentDeliveryException"/> dead-letters it at once with its
    /// message as the reason), any other exception when that message must be tried again later as after an endpoint
    /// failure. Throw when the round trip itself failed (connection refused, a timeout, a 5xx): every message of the
    /// group is then retried, and the failure counts towards the destination's circuit breaker.
    /// </summary>
    Task<IReadOnlyList<Exception?>> SendBatchAsync(IReadOnlyList<OutboxMessage> messages, CancellationToken cancellationToken);
}
