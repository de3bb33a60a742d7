using System.Collections.Concurrent;

namespace Outbox.Transport.InMemory;

/// <summary>
/// A transport that keeps sent messages in memory: for tests, samples and benchmarks. Thread-safe.
/// </summary>
public sealed class InMemoryTransport : IMessageTransport
{
    private readonly ConcurrentQueue<OutboxMessage> _sent = new();
    private long _sendCalls;

    /// <summary>
    /// Called before a message is accepted; throw from it to simulate a transport failure.
    /// <value>The default value is <see langword="null"/>: every send succeeds.</value>
    /// </summary>
    public Func<OutboxMessage, CancellationToken, Task>? OnSend { get; set; }

    /// <summary>
    /// When <see langword="false"/>, accepted messages are counted but not kept (bounded memory for long runs).
    /// <value>The default value is <see langword="true"/>.</value>
    /// </summary>
    public bool KeepMessages { get; set; } = true;

    /// <summary>Messages accepted so far, in the order they were accepted.</summary>
    public IReadOnlyCollection<OutboxMessage> Sent => _sent;

    /// <summary>How many send calls were made, failed ones included.</summary>
    public long SendCalls => Interlocked.Read(ref _sendCalls);

    /// <summary>How many messages were accepted.</summary>
    public long AcceptedCount => Interlocked.Read(ref _accepted);

    private long _accepted;

    /// <inheritdoc />
    public async Task SendAsync(OutboxMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        Interlocked.Increment(ref _sendCalls);
        if (OnSend is { } hook)
        {
            await hook(message, cancellationToken).ConfigureAwait(false);
        }

        cancellationToken.ThrowIfCancellationRequested();
        if (KeepMessages)
        {
            _sent.Enqueue(message);
        }

        Interlocked.Increment(ref _accepted);
    }

    /// <summary>Forgets the messages kept so far.</summary>
    public void Clear() => _sent.Clear();
}
