using System.Collections.Concurrent;

namespace Outbox.TestInfrastructure;

/// <summary>
/// A transport that records what it accepted. Derive one class per role (a test with two outboxes or two routes needs
/// two transport types, since a transport type is one singleton). Linked into the test projects that use it (it needs
/// the Outbox core).
/// </summary>
public abstract class RecordingTransport : IMessageTransport
{
    private readonly ConcurrentQueue<OutboxMessage> _sent = new();

    public IReadOnlyCollection<OutboxMessage> Sent => _sent;

    public Task SendAsync(OutboxMessage message, CancellationToken cancellationToken)
    {
        _sent.Enqueue(message);
        return Task.CompletedTask;
    }
}
