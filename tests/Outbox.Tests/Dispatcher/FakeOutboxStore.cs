using System.Collections.Concurrent;

namespace Outbox.Tests.Dispatcher;

/// <summary>
/// An in-memory stand-in for the store, for unit tests of the dispatcher's own logic. Database behaviour is proven by
/// the contract tests against real PostgreSQL and SQLite, not here.
/// </summary>
internal sealed class FakeOutboxStore : IOutboxStore
{
    private readonly ConcurrentQueue<OutboxMessage> _pending = new();
    private long _position;

    public int FailNextClaims { get; set; }

    /// <summary>Acknowledgements that fail (database gone after the claim) before one succeeds.</summary>
    public int FailNextAcknowledgements { get; set; }

    public int AcknowledgeCalls { get; private set; }

    private int _claimCalls;

    public int ClaimCalls => Volatile.Read(ref _claimCalls);

    public ConcurrentBag<long> Acknowledged { get; } = [];

    public ConcurrentBag<OutboxRelease> Released { get; } = [];

    public ConcurrentBag<OutboxDeadLetter> DeadLettered { get; } = [];

    public void Add(int attempt = 0, string destination = "d", string? partitionKey = null) => _pending.Enqueue(new OutboxMessage
    {
        Position = Interlocked.Increment(ref _position),
        MessageId = Guid.NewGuid(),
        Destination = destination,
        MessageType = "t",
        Payload = new byte[] { 1 },
        ContentType = "application/octet-stream",
        Attempt = attempt,
        PartitionKey = partitionKey,
    });

    public Task<IReadOnlyList<OutboxMessage>> ClaimAsync(Guid owner, int batchSize, TimeSpan leaseDuration, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _claimCalls);
        if (FailNextClaims > 0)
        {
            FailNextClaims--;
            throw new InvalidOperationException("database unreachable");
        }

        var batch = new List<OutboxMessage>();
        while (batch.Count < batchSize && _pending.TryDequeue(out var message))
        {
            batch.Add(new OutboxMessage
            {
                Position = message.Position,
                MessageId = message.MessageId,
                Destination = message.Destination,
                MessageType = message.MessageType,
                Payload = message.Payload,
                ContentType = message.ContentType,
                Attempt = message.Attempt + 1,
                PartitionKey = message.PartitionKey,
            });
        }

        return Task.FromResult<IReadOnlyList<OutboxMessage>>(batch);
    }

    public Task AcknowledgeAsync(Guid owner, IReadOnlyCollection<long> positions, CancellationToken cancellationToken)
    {
        AcknowledgeCalls++;
        if (FailNextAcknowledgements > 0)
        {
            FailNextAcknowledgements--;
            throw new InvalidOperationException("database unreachable");
        }

        foreach (var p in positions)
        {
            Acknowledged.Add(p);
        }

        return Task.CompletedTask;
    }

    public Task ReleaseAsync(Guid owner, IReadOnlyList<OutboxRelease> releases, CancellationToken cancellationToken)
    {
        foreach (var r in releases)
        {
            Released.Add(r);
        }

        return Task.CompletedTask;
    }

    public Task DeadLetterAsync(Guid owner, IReadOnlyList<OutboxDeadLetter> deadLetters, CancellationToken cancellationToken)
    {
        foreach (var d in deadLetters)
        {
            DeadLettered.Add(d);
        }

        return Task.CompletedTask;
    }

    public Task<long> GetLastPositionAsync(CancellationToken cancellationToken) => Task.FromResult(Interlocked.Read(ref _position));

    public Task<long> CountUndeliveredAsync(long upToPosition, CancellationToken cancellationToken) =>
        Task.FromResult((long)(_pending.Count(m => m.Position <= upToPosition)));
}
