using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;

namespace Outbox.RabbitMQ.Tests.Infrastructure;

/// <summary>Records every inbox outcome of a consumer, by wrapping its <see cref="IInboxProcessor"/>.</summary>
public sealed class OutcomeRecorder
{
    public ConcurrentQueue<(string? MessageId, InboxOutcomeKind Kind, bool Redelivered)> Outcomes { get; } = new();

    public int Count(InboxOutcomeKind kind) => Outcomes.Count(o => o.Kind == kind);

    /// <summary>Replaces consumer <paramref name="consumer"/>'s processor registration with a recording wrapper.</summary>
    public void Attach(IServiceCollection services, string consumer)
    {
        var original = services.Single(d => d.IsKeyedService && d.ServiceType == typeof(IInboxProcessor) && Equals(d.ServiceKey, consumer));
        services.Remove(original);
        services.AddKeyedSingleton<IInboxProcessor>(consumer, (sp, key) => new Recording((IInboxProcessor)original.KeyedImplementationFactory!(sp, key), this));
    }

    private sealed class Recording(IInboxProcessor inner, OutcomeRecorder recorder) : IInboxProcessor
    {
        public async Task<InboxOutcome> ProcessAsync(string consumer, IncomingMessage message, CancellationToken cancellationToken)
        {
            var outcome = await inner.ProcessAsync(consumer, message, cancellationToken);
            recorder.Outcomes.Enqueue((message.MessageId, outcome.Kind, message.Redelivered));
            return outcome;
        }

        public async Task<IReadOnlyList<InboxOutcome>?> ProcessBatchAsync(string consumer, IReadOnlyList<IncomingMessage> messages, CancellationToken cancellationToken)
        {
            var outcomes = await inner.ProcessBatchAsync(consumer, messages, cancellationToken);
            for (var i = 0; outcomes is not null && i < outcomes.Count; i++)
            {
                recorder.Outcomes.Enqueue((messages[i].MessageId, outcomes[i].Kind, messages[i].Redelivered));
            }

            return outcomes;
        }

        public async Task<InboxOutcome> DeadLetterAsync(string consumer, IncomingMessage message, string reason, int attempts, CancellationToken cancellationToken)
        {
            var outcome = await inner.DeadLetterAsync(consumer, message, reason, attempts, cancellationToken);
            recorder.Outcomes.Enqueue((message.MessageId, outcome.Kind, message.Redelivered));
            return outcome;
        }
    }
}
