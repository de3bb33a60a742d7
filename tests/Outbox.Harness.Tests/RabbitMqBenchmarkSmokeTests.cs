using System.Text.Json;
using Outbox.Benchmarks;
using Outbox.TestInfrastructure;

namespace Outbox.Harness.Tests;

/// <summary>
/// A tiny run of the benchmark's <c>rabbitmq</c> scenario (outbox → real broker → batched EF inbox) on each provider,
/// with the broker ceiling, so that the scenario never rots. Nothing is asserted about speed.
/// </summary>
public sealed class RabbitMqBenchmarkSmokeTests
{
    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task RabbitMq_TinyRun_EveryMessageIsProcessedOnceAndTheJsonReportsTheCeiling(string provider)
    {
        var ct = TestContext.Current.CancellationToken;
        try
        {
            await RabbitMqServer.AcquireAsync(ct);
            if (provider == "postgres")
            {
                await PostgresServer.AcquireAsync(ct);
            }
        }
        catch (ServerUnavailableException ex) when (!ServerRequirement.Required)
        {
            Assert.Skip($"No server available (set OUTBOX_TEST_REQUIRE_SERVERS=1 to make this a failure): {ex.Message}");
        }

        var output = new StringWriter();
        var exit = await BenchmarkProgram.RunAsync(
            ["rabbitmq", "--provider", provider, "--messages", "2000", "--lanes", "2", "--inbox-batch", "20", "--baseline", "--no-warmup", "--timeout", "120"],
            output, TextWriter.Null, ct);
        TestContext.Current.SendDiagnosticMessage(output.ToString());

        Assert.Equal(0, exit);
        using var json = JsonDocument.Parse(output.ToString().TrimEnd().Split('\n')[^1]);
        var root = json.RootElement;
        Assert.Equal("rabbitmq", root.GetProperty("scenario").GetString());
        Assert.Equal(provider, root.GetProperty("provider").GetString());
        Assert.Equal(2000, root.GetProperty("messages").GetInt64());
        Assert.Equal(20, root.GetProperty("inbox_batch").GetInt32());
        Assert.Equal(0, root.GetProperty("duplicates_processed").GetInt64());
        Assert.True(root.GetProperty("msgs_per_s").GetDouble() > 0);
        Assert.True(root.GetProperty("baseline_msgs_per_s").GetDouble() > 0);
        Assert.True(root.GetProperty("ratio").GetDouble() > 0);
        Assert.Contains("Verified: 2,000 payments from 2,000 distinct messages, 0 dead letters.", output.ToString(), StringComparison.Ordinal);
    }
}
