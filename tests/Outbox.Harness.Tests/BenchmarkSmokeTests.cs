using System.Text.Json;
using Outbox.Benchmarks;
using Outbox.TestInfrastructure;

namespace Outbox.Harness.Tests;

/// <summary>
/// Tiny runs of the benchmark console on every change, so that it never rots. They check that a run completes and
/// reports; they assert nothing about speed (figures belong in docs/performance.md, measured by the console itself).
/// </summary>
[Collection(HarnessRunsCollection.Name)]
public sealed class BenchmarkSmokeTests
{
    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task Drain_TinyRunWithBaselines_DeliversEverythingAndReportsJson(string provider)
    {
        await RequirePostgresAsync(provider);
        var run = await RunAsync(["drain", "--provider", provider, "--messages", "2000", "--batch", "100", "--baseline", "--naive", "--naive-messages", "200", "--no-warmup"]);
        using var json = run.LastJson();
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
        var run = await RunAsync(["steady", "--provider", "postgres", "--rate", "200", "--seconds", "3", "--wakeup", "on", "--no-warmup"]);
        using var json = run.LastJson();
        var root = json.RootElement;
        Assert.Equal("steady", root.GetProperty("scenario").GetString());
        Assert.True(root.GetProperty("messages").GetInt64() > 0);
        Assert.True(root.GetProperty("p99_ms").GetDouble() >= root.GetProperty("p50_ms").GetDouble());
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task Soak_TinyRun_ReportsEverySegmentAndDeliversEverything(string provider)
    {
        await RequirePostgresAsync(provider);
        var run = await RunAsync(["soak", "--provider", provider, "--messages", "20000", "--report-every", "5000", "--backlog", "5000", "--no-warmup"]);
        using var json = run.LastJson();
        var root = json.RootElement;
        Assert.Equal("soak", root.GetProperty("scenario").GetString());
        Assert.Equal(20000, root.GetProperty("messages").GetInt64());
        Assert.Equal(4, root.GetProperty("segments").GetInt32());
        Assert.True(root.GetProperty("msgs_per_s").GetDouble() > 0);
        Assert.Equal(4, root.GetProperty("segment_msgs_per_s").GetArrayLength());
        Assert.All(root.GetProperty("segment_msgs_per_s").EnumerateArray(), rate => Assert.True(rate.GetDouble() > 0));
        Assert.Equal(4, root.GetProperty("segment_rss_mb").GetArrayLength());
        Assert.True(root.GetProperty("last_vs_first").GetDouble() > 0);
        Assert.True(root.GetProperty("max_total_mb").GetDouble() > 0);
        Assert.Equal(root.GetProperty("inserted").GetInt64(), root.GetProperty("delivered").GetInt64());
        Assert.True(root.GetProperty("inserted").GetInt64() >= 20000);
        Assert.Equal(0, root.GetProperty("duplicates").GetInt64());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("p99_ms").ValueKind);
        if (provider == "postgres")
        {
            Assert.Equal(4, root.GetProperty("segment_dead_tuples").GetArrayLength());
            Assert.True(root.GetProperty("max_table_mb").GetDouble() > 0);
        }
        else
        {
            Assert.Equal(4, root.GetProperty("segment_wal_mb").GetArrayLength());
        }
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task Xmin_TinyRun_ReportsClaimLatencyWithAndWithoutTheOpenTransaction(string provider)
    {
        await RequirePostgresAsync(provider);
        var run = await RunAsync(["xmin", "--provider", provider, "--hold", "3", "--rate", "300", "--no-warmup"]);
        using var json = run.LastJson();
        var root = json.RootElement;
        Assert.Equal("xmin", root.GetProperty("scenario").GetString());
        Assert.Equal(900, root.GetProperty("messages").GetInt64()); // 300/s for the 3 s of phase B
        Assert.Equal(900, root.GetProperty("without_messages").GetInt64());
        Assert.True(root.GetProperty("p99_ms").GetDouble() >= root.GetProperty("p50_ms").GetDouble());
        Assert.True(root.GetProperty("max_ms").GetDouble() >= root.GetProperty("p99_ms").GetDouble());
        Assert.True(root.GetProperty("claim_without_p99_ms").GetDouble() >= root.GetProperty("claim_without_p50_ms").GetDouble());
        Assert.True(root.GetProperty("claim_p99_ratio").GetDouble() > 0);
        Assert.True(root.GetProperty("held_s").GetDouble() >= 2.5);
        Assert.Equal(root.GetProperty("inserted").GetInt64(), root.GetProperty("delivered").GetInt64());
        Assert.Equal(0, root.GetProperty("left_in_outbox").GetInt64());
        if (provider == "postgres")
        {
            Assert.True(root.GetProperty("holder_xmin_age").GetInt64() > 0);
        }
        else
        {
            Assert.True(root.GetProperty("wal_mb").GetDouble() > 0);
        }
    }

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

        var run = await RunAsync(["rabbitmq", "--provider", provider, "--messages", "2000", "--lanes", "2", "--inbox-batch", "20", "--baseline", "--no-warmup", "--timeout", "120"]);
        using var json = run.LastJson();
        var root = json.RootElement;
        Assert.Equal("rabbitmq", root.GetProperty("scenario").GetString());
        Assert.Equal(provider, root.GetProperty("provider").GetString());
        Assert.Equal(2000, root.GetProperty("messages").GetInt64());
        Assert.Equal(20, root.GetProperty("inbox_batch").GetInt32());
        Assert.Equal(0, root.GetProperty("duplicates_processed").GetInt64());
        Assert.True(root.GetProperty("msgs_per_s").GetDouble() > 0);
        Assert.True(root.GetProperty("baseline_msgs_per_s").GetDouble() > 0);
        Assert.True(root.GetProperty("ratio").GetDouble() > 0);
        Assert.Contains("Verified: 2,000 payments from 2,000 distinct messages, 0 dead letters.", run.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Business_TinyRun_EveryMessageIsHandledOnceAndTheJsonReportsRatioLatencyAndCpu()
    {
        var ct = TestContext.Current.CancellationToken;
        try
        {
            await RabbitMqServer.AcquireAsync(ct);
            await PostgresServer.AcquireAsync(ct);
        }
        catch (ServerUnavailableException ex) when (!ServerRequirement.Required)
        {
            Assert.Skip($"No server available (set OUTBOX_TEST_REQUIRE_SERVERS=1 to make this a failure): {ex.Message}");
        }

        var run = await RunAsync(["business", "--messages", "300", "--no-warmup", "--timeout", "120"]);
        using var json = run.LastJson();
        var root = json.RootElement;
        Assert.Equal("business", root.GetProperty("scenario").GetString());
        Assert.Equal(8, root.GetProperty("producers").GetInt32());
        Assert.Equal("defaults", root.GetProperty("consumer_settings").GetString());
        Assert.Equal(new InboxConsumerOptions().MaxBatchSize, root.GetProperty("inbox_batch").GetInt32());
        Assert.Equal(300, root.GetProperty("handled_measured").GetInt64());
        Assert.Equal(0, root.GetProperty("duplicates_processed").GetInt64());
        Assert.True(root.GetProperty("baseline_tx_per_s").GetDouble() > 0);
        Assert.True(root.GetProperty("publish_alone_tx_per_s").GetDouble() > 0);
        Assert.True(root.GetProperty("ratio").GetDouble() > 0);
        Assert.True(root.GetProperty("p99_ms").GetDouble() >= root.GetProperty("p50_ms").GetDouble());
        Assert.True(root.GetProperty("cpu_self_ms_per_msg").GetDouble() > 0);
        Assert.Contains("Verified: 600 payments from 600 distinct messages", run.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Kafka_TinyRun_EveryMessageIsProcessedOnceAndTheJsonReportsTheCeiling()
    {
        var ct = TestContext.Current.CancellationToken;
        try
        {
            await KafkaServer.AcquireAsync(ct);
            await PostgresServer.AcquireAsync(ct);
        }
        catch (ServerUnavailableException ex) when (!ServerRequirement.Required)
        {
            Assert.Skip($"No server available (set OUTBOX_TEST_REQUIRE_SERVERS=1 to make this a failure): {ex.Message}");
        }

        var run = await RunAsync(["kafka", "--provider", "postgres", "--messages", "2000", "--keys", "unique", "--partitions", "4", "--lanes", "4", "--inbox-batch", "20", "--baseline", "--no-warmup", "--timeout", "120"]);
        using var json = run.LastJson();
        var root = json.RootElement;
        Assert.Equal("kafka", root.GetProperty("scenario").GetString());
        Assert.Equal(2000, root.GetProperty("messages").GetInt64());
        Assert.Equal(4, root.GetProperty("partitions").GetInt32());
        Assert.Equal(0, root.GetProperty("duplicates_processed").GetInt64());
        Assert.True(root.GetProperty("msgs_per_s").GetDouble() > 0);
        Assert.True(root.GetProperty("baseline_msgs_per_s").GetDouble() > 0);
        Assert.True(root.GetProperty("ratio").GetDouble() > 0);
        Assert.Contains("Verified: 2,000 payments from 2,000 distinct messages, 0 dead letters.", run.Stdout, StringComparison.Ordinal);
    }

    /// <summary>
    /// Runs the console in process and asserts it exited with 0; a failure shows what the run printed on both streams
    /// (the reason for a failed run is on stderr).
    /// </summary>
    private static async Task<BenchRun> RunAsync(string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var exit = await BenchmarkProgram.RunAsync(
            args, stdout, TextWriter.Synchronized(stderr), TestContext.Current.CancellationToken); // progress comes from a timer thread
        var run = new BenchRun(stdout.ToString(), stderr.ToString());
        TestContext.Current.SendDiagnosticMessage(run.Stdout);
        Assert.True(exit == 0, $"`{string.Join(' ', args)}` exited with {exit}.\n--- stdout ---\n{run.Stdout}\n--- stderr ---\n{run.Stderr}");
        return run;
    }

    private sealed record BenchRun(string Stdout, string Stderr)
    {
        public JsonDocument LastJson() => JsonDocument.Parse(Stdout.TrimEnd().Split('\n')[^1]);
    }

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
