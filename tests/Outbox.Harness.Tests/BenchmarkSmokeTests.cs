using System.Text.Json;
using Outbox.Benchmarks;
using Outbox.TestInfrastructure;

namespace Outbox.Harness.Tests;

/// <summary>
/// Tiny runs of the benchmark console on every change, so that it never rots. They check that a run completes and
/// reports; they assert nothing about speed (figures belong in docs/performance.md, measured by the console itself).
/// </summary>
public sealed class BenchmarkSmokeTests
{
    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task Drain_TinyRunWithBaselines_DeliversEverythingAndReportsJson(string provider)
    {
        await RequirePostgresAsync(provider);
        var output = new StringWriter();
        var exit = await BenchmarkProgram.RunAsync(
            ["drain", "--provider", provider, "--messages", "2000", "--batch", "100", "--baseline", "--naive", "--naive-messages", "200", "--no-warmup"],
            output, TextWriter.Null, TestContext.Current.CancellationToken);
        TestContext.Current.SendDiagnosticMessage(output.ToString());

        Assert.Equal(0, exit);
        using var json = LastJson(output);
        var root = json.RootElement;
        Assert.Equal("drain", root.GetProperty("scenario").GetString());
        Assert.Equal(2000, root.GetProperty("messages").GetInt64());
        Assert.True(root.GetProperty("msgs_per_s").GetDouble() > 0);
        Assert.True(root.GetProperty("baseline_msgs_per_s").GetDouble() > 0);
        Assert.True(root.GetProperty("naive_msgs_per_s").GetDouble() > 0);
        Assert.Equal(0, root.GetProperty("duplicates").GetInt64());
    }

    [Fact]
    public async Task Steady_TinyRun_ReportsLatencyPercentiles()
    {
        await RequirePostgresAsync("postgres");
        var output = new StringWriter();
        var exit = await BenchmarkProgram.RunAsync(
            ["steady", "--provider", "postgres", "--rate", "200", "--seconds", "3", "--wakeup", "on", "--no-warmup"],
            output, TextWriter.Null, TestContext.Current.CancellationToken);
        TestContext.Current.SendDiagnosticMessage(output.ToString());

        Assert.Equal(0, exit);
        using var json = LastJson(output);
        var root = json.RootElement;
        Assert.Equal("steady", root.GetProperty("scenario").GetString());
        Assert.True(root.GetProperty("messages").GetInt64() > 0);
        Assert.True(root.GetProperty("p99_ms").GetDouble() >= root.GetProperty("p50_ms").GetDouble());
    }

    private static JsonDocument LastJson(StringWriter output) => JsonDocument.Parse(output.ToString().TrimEnd().Split('\n')[^1]);

    private static async Task RequirePostgresAsync(string provider)
    {
        if (provider != "postgres")
        {
            return;
        }

        try
        {
            await PostgresServer.AcquireAsync(TestContext.Current.CancellationToken);
        }
        catch (ServerUnavailableException ex) when (!ServerRequirement.Required)
        {
            Assert.Skip($"No PostgreSQL server available (set OUTBOX_TEST_REQUIRE_SERVERS=1 to make this a failure): {ex.Message}");
        }
    }
}
