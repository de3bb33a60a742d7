// Linked into Outbox.Http.Tests and Outbox.RabbitMQ.Tests (it needs the Outbox core, which Outbox.TestInfrastructure does not reference).
using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Outbox.TestInfrastructure;

/// <summary>The dispatcher's counters and latencies of given destinations, whatever else runs in the process.</summary>
public sealed class DestinationMetrics : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<(string Instrument, string Destination), long> _counts = new();
    private readonly ConcurrentDictionary<string, ConcurrentBag<double>> _latencies = new();

    public DestinationMetrics()
    {
        _listener.InstrumentPublished = (i, l) =>
        {
            if (i.Meter.Name == OutboxTelemetry.MeterName)
            {
                l.EnableMeasurementEvents(i);
            }
        };
        _listener.SetMeasurementEventCallback<long>((i, value, tags, _) =>
            _counts.AddOrUpdate((i.Name, DestinationOf(tags)), value, (_, total) => total + value));
        _listener.SetMeasurementEventCallback<double>((i, value, tags, _) =>
        {
            if (i.Name == "outbox.delivery.latency")
            {
                _latencies.GetOrAdd(DestinationOf(tags), _ => []).Add(value);
            }
        });
        _listener.Start();
    }

    public long CircuitRefused(string destination) => _counts.GetValueOrDefault(("outbox.messages.circuit_refused", destination));

    public long Failed(string destination) => _counts.GetValueOrDefault(("outbox.messages.failed", destination));

    public (double P50, double P99) Latency(string destination)
    {
        var sorted = _latencies.GetValueOrDefault(destination)?.Order().ToArray() ?? [];
        return sorted.Length == 0 ? (0, 0) : (sorted[(int)(sorted.Length * 0.5)], sorted[Math.Min(sorted.Length - 1, (int)(sorted.Length * 0.99))]);
    }

    public void Dispose() => _listener.Dispose();

    private static string DestinationOf(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        foreach (var tag in tags)
        {
            if (tag.Key == "messaging.destination.name")
            {
                return tag.Value as string ?? "";
            }
        }

        return "";
    }
}
