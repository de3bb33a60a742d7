using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Outbox;

/// <summary>
/// Names of the library's tracing source and meter, for <c>AddSource</c> / <c>AddMeter</c> in OpenTelemetry.
/// Spans and instruments follow the OpenTelemetry messaging semantic conventions where they apply.
/// </summary>
public static class OutboxTelemetry
{
    /// <summary>The <see cref="ActivitySource"/> name: dispatch spans (kind Producer) and consumer spans (kind Consumer).</summary>
    public const string ActivitySourceName = "Outbox";

    /// <summary>
    /// The <see cref="Meter"/> name. Instruments: <c>outbox.messages.published</c>, <c>outbox.messages.dispatched</c>,
    /// <c>outbox.messages.failed</c>, <c>outbox.messages.retried</c>, <c>outbox.messages.dead_lettered</c>,
    /// <c>outbox.inbox.duplicates</c>, <c>outbox.inbox.processed</c>, <c>outbox.inbox.order_gaps</c>, <c>outbox.inbox.reorders</c>, <c>outbox.inbox.dead_letters_refused</c>, <c>outbox.dispatch.duration</c> (s),
    /// <c>outbox.delivery.latency</c> (s, publish to delivered), <c>outbox.pending.count</c> and
    /// <c>outbox.pending.oldest_age</c> (s).
    /// </summary>
    public const string MeterName = "Outbox";

    internal static readonly ActivitySource Source = new(ActivitySourceName, typeof(OutboxTelemetry).Assembly.GetName().Version?.ToString());

    internal static readonly Meter Meter = new(MeterName, typeof(OutboxTelemetry).Assembly.GetName().Version?.ToString());

    internal static readonly Counter<long> Published = Meter.CreateCounter<long>("outbox.messages.published", "{message}", "Messages committed to the outbox.");

    internal static readonly Counter<long> Dispatched = Meter.CreateCounter<long>("outbox.messages.dispatched", "{message}", "Messages the transport accepted.");

    internal static readonly Counter<long> Failed = Meter.CreateCounter<long>("outbox.messages.failed", "{message}", "Failed delivery attempts.");

    internal static readonly Counter<long> CircuitRefused = Meter.CreateCounter<long>(
        "outbox.messages.circuit_refused", "{message}", "Messages not sent because their destination's circuit was open (attempt not counted).");

    internal static readonly Counter<long> Retried = Meter.CreateCounter<long>("outbox.messages.retried", "{message}", "Messages rescheduled after a failed attempt.");

    internal static readonly Counter<long> DeadLettered = Meter.CreateCounter<long>("outbox.messages.dead_lettered", "{message}", "Messages moved to a dead-letter table.");

    internal static readonly Counter<long> InboxDuplicates = Meter.CreateCounter<long>("outbox.inbox.duplicates", "{message}", "Redelivered messages the inbox recognised and skipped.");

    internal static readonly Counter<long> InboxOrderGaps = Meter.CreateCounter<long>("outbox.inbox.order_gaps", "{message}", "Keyed messages that arrived ahead of their predecessor.");

    internal static readonly Counter<long> InboxReorders = Meter.CreateCounter<long>("outbox.inbox.reorders", "{message}", "Keyed messages processed after a later message of their key.");

    internal static readonly Counter<long> InboxProcessed = Meter.CreateCounter<long>("outbox.inbox.processed", "{message}", "Messages whose handler committed.");

    internal static readonly Counter<long> InboxDeadLettersRefused = Meter.CreateCounter<long>(
        "outbox.inbox.dead_letters_refused", "{message}", "Messages an inbox refused instead of dead-lettering because the consumer's dead letters were full (MaxDeadLetters).");

    internal static readonly Histogram<double> DispatchDuration = Meter.CreateHistogram(
        "outbox.dispatch.duration", "s", "Time the transport took to accept one message.",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] });

    internal static readonly Histogram<double> DeliveryLatency = Meter.CreateHistogram(
        "outbox.delivery.latency", "s", "Time from publish to the transport accepting the message.",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300] });

    internal static readonly Histogram<double> InboxDuration = Meter.CreateHistogram(
        "outbox.inbox.duration", "s", "Time from a consumer's receipt of a message to the commit of its handler and inbox row.",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60] });

    /// <summary>Records messages committed by a publisher (called by the EF Core integration).</summary>
    public static void RecordPublished(int count)
    {
        if (count > 0)
        {
            Published.Add(count);
        }
    }

    /// <summary>Records a redelivered message skipped by an inbox.</summary>
    public static void RecordInboxDuplicate(string consumer) => InboxDuplicates.Add(1, new KeyValuePair<string, object?>("messaging.consumer.group.name", consumer));

    /// <summary>Records a keyed message that arrived ahead of its predecessor.</summary>
    public static void RecordInboxOrderGap(string consumer) => InboxOrderGaps.Add(1, new KeyValuePair<string, object?>("messaging.consumer.group.name", consumer));

    /// <summary>Records a keyed message processed after a later message of its key.</summary>
    public static void RecordInboxReorder(string consumer) => InboxReorders.Add(1, new KeyValuePair<string, object?>("messaging.consumer.group.name", consumer));

    /// <summary>Records a message processed by an inbox handler.</summary>
    public static void RecordInboxProcessed(string consumer) => InboxProcessed.Add(1, new KeyValuePair<string, object?>("messaging.consumer.group.name", consumer));

    /// <summary>Records a message an inbox refused because the consumer's dead letters were full.</summary>
    public static void RecordInboxDeadLetterRefused(string consumer) =>
        InboxDeadLettersRefused.Add(1, new KeyValuePair<string, object?>("messaging.consumer.group.name", consumer));

    /// <summary>Records a message an inbox moved to its dead letters.</summary>
    public static void RecordInboxDeadLettered(string consumer) =>
        DeadLettered.Add(1, new KeyValuePair<string, object?>("outbox.side", "inbox"), new KeyValuePair<string, object?>("messaging.consumer.group.name", consumer));

    /// <summary>
    /// Starts a consumer span (kind Consumer) continuing the trace carried by <paramref name="traceParent"/>, or returns
    /// <see langword="null"/> when nobody listens. Transports' consumers call it around processing.
    /// </summary>
    public static Activity? StartConsumerActivity(string consumer, string messageType, Guid messageId, string? traceParent)
    {
        if (!Source.HasListeners())
        {
            return null;
        }

        ActivityContext.TryParse(traceParent, null, out var parent);
        var activity = Source.StartActivity($"process {messageType}", ActivityKind.Consumer, parent);
        activity?.SetTag("messaging.system", "outbox");
        activity?.SetTag("messaging.operation.type", "process");
        activity?.SetTag("messaging.consumer.group.name", consumer);
        activity?.SetTag("messaging.message.id", messageId.ToString());
        activity?.SetTag("outbox.message_type", messageType);
        return activity;
    }
}
