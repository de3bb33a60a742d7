using Outbox.Benchmarks.Options;

namespace Outbox.Benchmarks.Scenarios;

/// <summary>What a scenario runs with: the options, stdout (the report), stderr (progress and logs), cancellation.</summary>
public sealed record BenchContext(BenchOptions Options, TextWriter Out, TextWriter Log, CancellationToken Cancellation)
{
    public TimeSpan Timeout => TimeSpan.FromSeconds(Options.TimeoutSeconds);
}
