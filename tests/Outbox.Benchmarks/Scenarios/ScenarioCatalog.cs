using Outbox.Benchmarks.Infrastructure;
using Outbox.Benchmarks.Reporting;

namespace Outbox.Benchmarks.Scenarios;

/// <summary>The scenarios by name. A scenario fills the report; the program prints it.</summary>
public static class ScenarioCatalog
{
    private static readonly Dictionary<string, Func<BenchContext, BenchDatabase, Report, Task>> Scenarios = new(StringComparer.Ordinal)
    {
        ["drain"] = DrainScenario.RunAsync,
        ["steady"] = SteadyScenario.RunAsync,
        ["rabbitmq"] = RabbitMqScenario.RunAsync,
        ["business"] = BusinessScenario.RunAsync,
        ["kafka"] = KafkaScenario.RunAsync,
        ["activemq"] = ActiveMqScenario.RunAsync,
        ["soak"] = SoakScenario.RunAsync,
        ["xmin"] = XminScenario.RunAsync,
        ["oversized"] = OversizedScenario.RunAsync,
        ["isolation"] = IsolationScenario.RunAsync,
        ["pooler"] = PoolerScenario.RunAsync,
        ["failover"] = FailoverScenario.RunAsync,
        ["http"] = HttpScenario.RunAsync,
        ["tenants"] = TenantsScenario.RunAsync,
    };

    /// <summary>Scenarios that will come with later issues.</summary>
    public static readonly IReadOnlyList<string> Planned = [];

    public static IReadOnlyList<string> Names => [.. Scenarios.Keys];

    /// <exception cref="Options.BenchOptionsException">The name is unknown or not implemented yet.</exception>
    public static Func<BenchContext, BenchDatabase, Report, Task> Find(string name)
    {
        if (Scenarios.TryGetValue(name, out var run))
        {
            return run;
        }

        throw new Options.BenchOptionsException(Planned.Contains(name)
            ? $"Scenario '{name}' is planned but not implemented yet. Known scenarios: {string.Join(", ", Names)}."
            : $"Unknown scenario '{name}'. Known scenarios: {string.Join(", ", Names)} (planned: {string.Join(", ", Planned)}).");
    }
}
