using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Outbox;

/// <summary>
/// Runs a delivery through the consumer's inbox processor with its retry policy. The message stays unacknowledged
/// while this runs: a failing handler is retried in process with exponential backoff, dead-lettered after
/// <see cref="InboxConsumerOptions.MaxAttempts"/> (or at once when the failure is not retryable or the message is
/// poison), and handed back to the broker only when no outcome could be recorded at all.
/// </summary>
internal sealed class InboxReceiver(
    IServiceProvider services,
    IOptionsMonitor<InboxConsumerOptions> options,
    TimeProvider timeProvider,
    ILogger<InboxReceiver> logger) : IInboxReceiver
{
    // When each message first came ahead of its predecessor (bounded: entries go when the message is processed, and
    // the map is cleared if it ever grows past a cap, which only restarts the gap timeouts).
    private readonly ConcurrentDictionary<(string Consumer, string MessageId), DateTimeOffset> _gaps = new();

    public async Task<ReceiveDisposition> ReceiveAsync(string consumer, IncomingMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(consumer);
        ArgumentNullException.ThrowIfNull(message);
        var processor = services.GetRequiredKeyedService<IInboxProcessor>(consumer);
        var settings = options.Get(consumer);
        if (message.ReceivedAt is null)
        {
            message = message with { ReceivedAt = timeProvider.GetUtcNow() };
        }

        // A consumer span continuing the dispatch span (or the publisher's) carried in traceparent.
        using var activity = OutboxTelemetry.StartConsumerActivity(
            consumer, message.MessageType ?? "unknown", InboxMessageReader.TryReadId(message, out var id) ? id : Guid.Empty, message.TraceParent);
        var failures = 0;
        var unavailable = 0;
        Exception? lastError = null;
        var retryable = true;
        while (true)
        {
            var outcome = await processor.ProcessAsync(consumer, message with { DeliveryAttempt = failures + 1 }, cancellationToken).ConfigureAwait(false);
            switch (outcome.Kind)
            {
                case InboxOutcomeKind.Processed:
                    RecordProcessed(consumer, message);
                    ForgetGap(consumer, message);
                    return ReceiveDisposition.Acknowledge;
                case InboxOutcomeKind.Duplicate:
                    InboxLog.Duplicate(logger, consumer, message.MessageId);
                    OutboxTelemetry.RecordInboxDuplicate(consumer);
                    activity?.SetTag("outbox.inbox.duplicate", true);
                    return ReceiveDisposition.Acknowledge;
                case InboxOutcomeKind.DeadLettered:
                    InboxLog.DeadLettered(logger, consumer, message.MessageId, message.MessageType, outcome.Reason!);
                    OutboxTelemetry.RecordInboxDeadLettered(consumer);
                    activity?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, outcome.Reason);
                    return ReceiveDisposition.Acknowledge;
                case InboxOutcomeKind.Refused:
                    return Refused(consumer, message, outcome.Reason!, activity);
                case InboxOutcomeKind.OutOfOrder:
                    // Hand it back so the predecessor, queued behind it or being retried, can go first; after the gap
                    // timeout, process it anyway (the predecessor is most likely dead-lettered upstream).
                    OutboxTelemetry.RecordInboxOrderGap(consumer);
                    if (_gaps.Count > 100_000)
                    {
                        _gaps.Clear();
                    }

                    var firstSeen = _gaps.GetOrAdd((consumer, message.MessageId ?? ""), timeProvider.GetUtcNow());
                    if (timeProvider.GetUtcNow() - firstSeen >= settings.OrderGapTimeout)
                    {
                        InboxLog.GapAccepted(logger, consumer, message.MessageId, message.PartitionKey, message.SequenceNumber, outcome.ExpectedSequence);
                        message = message with { AcceptGap = true };
                        continue;
                    }

                    InboxLog.OutOfOrder(logger, consumer, message.MessageId, message.PartitionKey, message.SequenceNumber, outcome.ExpectedSequence);
                    await Task.Delay(settings.OrderRetryDelay, timeProvider, cancellationToken).ConfigureAwait(false);
                    return ReceiveDisposition.Requeue;
                case InboxOutcomeKind.Unavailable:
                    // The handler did not run: the message is not at fault, so the try is not counted against it.
                    unavailable++;
                    if (unavailable >= settings.MaxAttempts)
                    {
                        return await RequeueAsync(consumer, message, outcome.Exception!, settings, cancellationToken).ConfigureAwait(false);
                    }

                    var pause = Backoff(unavailable, settings);
                    InboxLog.StoreUnavailable(logger, outcome.Exception!, consumer, message.MessageId, unavailable, pause);
                    await Task.Delay(pause, timeProvider, cancellationToken).ConfigureAwait(false);
                    continue;
                default:
                    failures++;
                    lastError = outcome.Exception!;
                    retryable = outcome.Retryable && settings.ShouldRetry(lastError);
                    if (!retryable || failures >= settings.MaxAttempts)
                    {
                        break;
                    }

                    var delay = Backoff(failures, settings);
                    InboxLog.HandlerFailed(logger, lastError, consumer, message.MessageId, message.MessageType, failures, settings.MaxAttempts, delay);
                    await Task.Delay(delay, timeProvider, cancellationToken).ConfigureAwait(false);
                    continue;
            }

            break;
        }

        var reason = InboxMessageReader.Truncate(retryable
            ? $"Failed {failures} attempt(s) (limit {settings.MaxAttempts}). Last error: {Describe(lastError!)}"
            : $"Failed with an error that is not retried, on attempt {failures}: {Describe(lastError!)}");
        try
        {
            var result = await processor.DeadLetterAsync(consumer, message, reason, failures, cancellationToken).ConfigureAwait(false);
            if (result.Kind == InboxOutcomeKind.Refused)
            {
                return Refused(consumer, message, result.Reason!, activity);
            }

            if (result.Kind == InboxOutcomeKind.Duplicate)
            {
                InboxLog.Duplicate(logger, consumer, message.MessageId);
                OutboxTelemetry.RecordInboxDuplicate(consumer);
            }
            else
            {
                InboxLog.DeadLettered(logger, consumer, message.MessageId, message.MessageType, reason);
                OutboxTelemetry.RecordInboxDeadLettered(consumer);
                activity?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, reason);
            }

            return ReceiveDisposition.Acknowledge;
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return await RequeueAsync(consumer, message, ex, settings, cancellationToken).ConfigureAwait(false);
        }
    }

    public async Task<IReadOnlyList<ReceiveDisposition>> ReceiveBatchAsync(string consumer, IReadOnlyList<IncomingMessage> messages, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(consumer);
        ArgumentNullException.ThrowIfNull(messages);
        if (messages.Count < 2 || options.Get(consumer).MaxBatchSize < 2)
        {
            return await IInboxReceiver.ReceiveOneByOneAsync(this, consumer, messages, cancellationToken).ConfigureAwait(false);
        }

        var processor = services.GetRequiredKeyedService<IInboxProcessor>(consumer);
        var batch = new IncomingMessage[messages.Count];
        var now = timeProvider.GetUtcNow();
        for (var i = 0; i < batch.Length; i++)
        {
            var message = messages[i] ?? throw new ArgumentException("The batch holds a null message.", nameof(messages));
            batch[i] = message with { ReceivedAt = message.ReceivedAt ?? now, DeliveryAttempt = 1 };
        }

        // The processor opens each message's consumer span around its handler, so that what a handler publishes
        // continues its own message's trace.
        var outcomes = await processor.ProcessBatchAsync(consumer, batch, cancellationToken).ConfigureAwait(false);
        if (outcomes is not null && outcomes.Count == batch.Length && outcomes.All(o => o.Kind is InboxOutcomeKind.Processed or InboxOutcomeKind.Duplicate))
        {
            for (var i = 0; i < batch.Length; i++)
            {
                if (outcomes[i].Kind == InboxOutcomeKind.Processed)
                {
                    RecordProcessed(consumer, batch[i]);
                    ForgetGap(consumer, batch[i]);
                }
                else
                {
                    InboxLog.Duplicate(logger, consumer, batch[i].MessageId);
                    OutboxTelemetry.RecordInboxDuplicate(consumer);
                }
            }

            return Enumerable.Repeat(ReceiveDisposition.Acknowledge, batch.Length).ToArray();
        }

        // Something in the batch failed and nothing was kept: each message again on its own, with its own retries.
        InboxLog.BatchFellBack(logger, consumer, batch.Length);
        return await IInboxReceiver.ReceiveOneByOneAsync(this, consumer, messages, cancellationToken).ConfigureAwait(false);
    }

    private async Task<ReceiveDisposition> RequeueAsync(string consumer, IncomingMessage message, Exception error, InboxConsumerOptions settings, CancellationToken cancellationToken)
    {
        // Hold the message a little so a broker redelivery does not spin against a database that is down.
        InboxLog.Requeued(logger, error, consumer, message.MessageId, settings.RequeueDelay);
        await Task.Delay(settings.RequeueDelay, timeProvider, cancellationToken).ConfigureAwait(false);
        return ReceiveDisposition.Requeue;
    }

    private ReceiveDisposition Refused(string consumer, IncomingMessage message, string reason, System.Diagnostics.Activity? activity)
    {
        InboxLog.DeadLettersFull(logger, consumer, message.MessageId, message.MessageType, reason);
        OutboxTelemetry.RecordInboxDeadLetterRefused(consumer);
        activity?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, reason);
        ForgetGap(consumer, message);
        return ReceiveDisposition.Reject;
    }

    /// <summary>Counts a processed message and how long it took from its receipt to the commit (the dashboard's consumer latency).</summary>
    private void RecordProcessed(string consumer, IncomingMessage message)
    {
        OutboxTelemetry.RecordInboxProcessed(consumer);
        if (message.ReceivedAt is { } receivedAt)
        {
            OutboxTelemetry.InboxDuration.Record(
                Math.Max(0, (timeProvider.GetUtcNow() - receivedAt).TotalSeconds),
                new KeyValuePair<string, object?>("messaging.consumer.group.name", consumer));
        }
    }

    private void ForgetGap(string consumer, IncomingMessage message)
    {
        if (!_gaps.IsEmpty)
        {
            _gaps.TryRemove((consumer, message.MessageId ?? ""), out _);
        }
    }

    private static TimeSpan Backoff(int failures, InboxConsumerOptions settings) =>
        RetryBackoff.Compute(failures, settings.RetryBaseDelay, settings.RetryMaxDelay, Random.Shared.NextDouble());

    private static string Describe(Exception exception) => $"{exception.GetType().FullName}: {exception.Message}";
}
