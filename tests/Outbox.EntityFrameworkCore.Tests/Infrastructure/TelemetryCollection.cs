namespace Outbox.EntityFrameworkCore.Tests.Infrastructure;

/// <summary>
/// The library's ActivitySource and Meter are process-wide: tests that assert on exported telemetry run alone, so
/// that no other test's messages show up in their counts.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TelemetryCollection
{
    public const string Name = "Telemetry (not parallel)";
}
