using System.Diagnostics.Metrics;
using Outbox;

namespace Samples.ServiceDefaults;

/// <summary>
/// Listens to the library's <c>outbox.inbox.duplicates</c> counter (meter <see cref="OutboxTelemetry.MeterName"/>):
/// how many redelivered messages this process's inbox recognised and skipped. In production an OpenTelemetry exporter
/// does this; the sample keeps a number to show in its stats.
/// </summary>
public sealed class InboxDuplicateCounter : IDisposable
{
    private readonly MeterListener _listener = new();
    private long _duplicates;

    public InboxDuplicateCounter()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == OutboxTelemetry.MeterName && instrument.Name == "outbox.inbox.duplicates")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref _duplicates, value));
        _listener.Start();
    }

    public long Duplicates => Interlocked.Read(ref _duplicates);

    public void Dispose() => _listener.Dispose();
}
