using System.Diagnostics;
using System.Text.Json;
using Outbox.TestInfrastructure;

namespace Outbox.Harness.Tests;

/// <summary>
/// A short run of the reliability harness on every change: a few thousand messages, dispatchers and the consumer
/// killed every couple of seconds, one PostgreSQL and one RabbitMQ restart, 5% transport faults, some poison.
/// </summary>
[Collection(HarnessRunsCollection.Name)]
public sealed class ChaosSmokeTests
{
    [Fact]
    public async Task Harness_ShortRunWithKillsAndRestarts_LosesDuplicatesAndReordersNothing()
    {
        var ct = TestContext.Current.CancellationToken;
        try
        {
            await RabbitMqServer.AcquireAsync(ct); // the harness acquires it the same way; fail or skip early with the reason
        }
        catch (ServerUnavailableException ex) when (!ServerRequirement.Required)
        {
            Assert.Skip($"No RabbitMQ available (set OUTBOX_TEST_REQUIRE_SERVERS=1 to make this a failure): {ex.Message}");
        }

        var harness = HarnessPath();
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[]
                 {
                     harness, "--messages", "2000", "--kill-every", "2", "--db-restarts", "1", "--broker-restarts", "1",
                     "--fault-rate", "0.05", "--poison-rate", "0.005", "--customers", "100", "--seconds", "600", "--stall-seconds", "120", "--seed", "7",
                 })
        {
            info.ArgumentList.Add(argument);
        }

        using var process = Process.Start(info)!;
        var stderr = process.StandardError.ReadToEndAsync(ct);
        var stdout = await process.StandardOutput.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct);
        TestContext.Current.SendDiagnosticMessage(stdout);

        var last = stdout.TrimEnd().Split('\n')[^1];
        using var report = JsonDocument.Parse(last);
        var root = report.RootElement;
        Assert.True(root.GetProperty("finished").GetBoolean(), $"the run did not settle:\n{stdout}\n{await stderr}");
        Assert.Equal(2000, root.GetProperty("messages").GetInt64());
        Assert.Equal(0, root.GetProperty("lost").GetInt64());
        Assert.Equal(0, root.GetProperty("duplicates").GetInt64());
        Assert.Equal(0, root.GetProperty("order_violations").GetInt64());
        Assert.Equal(1.0, root.GetProperty("P_s").GetDouble());
        Assert.Equal(root.GetProperty("poison").GetInt64(), root.GetProperty("dead_letters").GetInt64());
        Assert.True(root.GetProperty("kills").GetInt32() >= 3, "expected several kills");
        Assert.Equal(1, root.GetProperty("db_restarts").GetInt32());
        Assert.Equal(1, root.GetProperty("broker_restarts").GetInt32());
        Assert.Equal(0, process.ExitCode);
    }

    /// <summary>The harness built by the same build, same configuration: tests/Outbox.Chaos/bin/{Configuration}/net10.0.</summary>
    private static string HarnessPath()
    {
        var here = new DirectoryInfo(AppContext.BaseDirectory);
        var configuration = here.Parent!.Name; // .../bin/{Configuration}/net10.0/
        var root = here;
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "Outbox.sln")))
        {
            root = root.Parent;
        }

        var path = Path.Combine(root!.FullName, "tests", "Outbox.Chaos", "bin", configuration, "net10.0", "Outbox.Chaos.dll");
        Assert.True(File.Exists(path), $"harness not built at {path}");
        return path;
    }
}
