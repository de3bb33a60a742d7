namespace Outbox.Harness.Tests;

/// <summary>
/// The harness runs take turns: the reliability harness kills processes and restarts the shared RabbitMQ broker, and
/// it keeps both cores busy; a benchmark smoke run beside it (a steady rate, a latency histogram, the broker) would
/// measure, or fail on, its neighbour instead of itself.
/// </summary>
[CollectionDefinition(Name)]
public sealed class HarnessRunsCollection
{
    public const string Name = "harness runs, one at a time";
}
