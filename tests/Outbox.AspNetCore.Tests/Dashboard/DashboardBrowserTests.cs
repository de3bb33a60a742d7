using System.Diagnostics;
using System.Reflection;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Outbox.AspNetCore.Tests.Infrastructure;
using Outbox.EntityFrameworkCore;
using Outbox.TestInfrastructure;

namespace Outbox.AspNetCore.Tests.Dashboard;

/// <summary>
/// The dashboard end to end in a real headless Chromium (Debian's package), driven by playwright-core through node:
/// it loads the page from Kestrel, sees the backlog, clicks a dead letter's requeue button, and the test then checks in
/// the database that the row really moved back into the outbox. Without chromium, node or the npm packages the test
/// is skipped, unless OUTBOX_TEST_REQUIRE_SERVERS=1 (as .ci/run sets), where it fails.
/// </summary>
public sealed class DashboardBrowserTests
{
    private static readonly TimeSpan BrowserTimeout = TimeSpan.FromSeconds(300);

    [Fact]
    public async Task Dashboard_RequeueClick_MovesTheDeadLetterBackIntoTheOutbox()
    {
        var (node, chromium, script) = FindTools();
        await using var app = await AdminTestApp.StartAsync();
        await app.PublishAsync(3);
        var target = await app.AddDeadLetterAsync(101, partitionKey: "order-7", sequence: 2);
        var other = await app.AddDeadLetterAsync(102, partitionKey: "order-8", sequence: 1);

        // The circuit of 'payments' as the dispatcher reports it after its endpoint refused connections.
        var endpoints = app.Services.GetRequiredService<OutboxEndpointStates>();
        endpoints.EndpointFailed("payments", new System.Net.Sockets.SocketException(111, "Connection refused (payments:443)"));
        endpoints.Refused("payments", 4, halfOpen: false, cause: null);

        var screenshot = Path.Combine(AppContext.BaseDirectory, "dashboard-e2e.png");
        var result = await RunNodeAsync(node, script, new Dictionary<string, string>
        {
            ["OUTBOX_URL"] = new Uri(app.BaseAddress, "outbox/").ToString(),
            ["OUTBOX_CHROMIUM"] = chromium,
            ["OUTBOX_REQUEUE_ID"] = "101",
            ["OUTBOX_EXPECT_PENDING"] = "3",
            ["OUTBOX_EXPECT_OPEN_ENDPOINT"] = "payments",
            ["OUTBOX_HEADERS"] = """{"X-Test-User":"browser","X-Test-Roles":"ops"}""",
            ["OUTBOX_SCREENSHOT"] = screenshot,
        });

        Assert.True(result.ExitCode == 0, $"the browser run failed (exit {result.ExitCode}):\n{result.Output}\n{result.Error}");
        var report = JsonDocument.Parse(result.Output.Trim().Split('\n')[^1]).RootElement;
        Assert.True(report.GetProperty("ok").GetBoolean(), result.Output);
        var seen = report.GetProperty("seen");
        Assert.Equal("3", seen.GetProperty("pendingBefore").GetString());
        Assert.Equal("2", seen.GetProperty("deadLettersBefore").GetString());
        Assert.Equal("4", seen.GetProperty("pendingAfter").GetString());
        Assert.Contains("Shop.OrderPlaced", seen.GetProperty("rowText").GetString(), StringComparison.Ordinal);
        var endpointText = seen.GetProperty("endpointText").GetString();
        Assert.Contains("payments", endpointText, StringComparison.Ordinal);
        Assert.Contains("System.Net.Sockets.SocketException: Connection refused (payments:443)", endpointText, StringComparison.Ordinal);
        Assert.Contains("4 refused", endpointText, StringComparison.Ordinal);
        Assert.Equal("1 open", seen.GetProperty("endpointsSummary").GetString());

        // The click really moved the row: gone from the dead letters, back in the outbox with its identity.
        await using var check = app.CreateContext();
        Assert.Equal([other.Id], await check.Set<DeadLetterRecord>().Select(d => d.Id).ToListAsync(TestContext.Current.CancellationToken));
        var requeued = await check.Set<OutboxRecord>().SingleAsync(r => r.MessageId == target.MessageId, TestContext.Current.CancellationToken);
        Assert.Equal(("order-7", 2L, 0), (requeued.PartitionKey!, requeued.SequenceNumber!.Value, requeued.Attempts));
        Assert.Equal(4, await check.Set<OutboxRecord>().CountAsync(TestContext.Current.CancellationToken));
    }

    private static (string Node, string Chromium, string Script) FindTools()
    {
        var directory = typeof(DashboardBrowserTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(a => a.Key == "BrowserTestDirectory").Value!;
        var missing = new List<string>();
        var node = Which("node");
        if (node is null)
        {
            missing.Add("node (apt-get install -y nodejs npm)");
        }

        var chromium = Environment.GetEnvironmentVariable("OUTBOX_TEST_CHROMIUM") ?? Which("chromium") ?? Which("chromium-browser");
        if (chromium is null || !File.Exists(chromium))
        {
            missing.Add("chromium (apt-get install -y chromium)");
        }

        if (!File.Exists(Path.Combine(directory, "node_modules", "playwright-core", "package.json")))
        {
            missing.Add($"playwright-core (npm ci in {directory})");
        }

        if (missing.Count > 0)
        {
            var message = $"The dashboard browser test needs {string.Join(", ", missing)}; .ci/run installs them.";
            if (ServerRequirement.Required)
            {
                Assert.Fail($"{message} ({ServerRequirement.EnvironmentVariable} is set, so this is a failure.)");
            }

            Assert.Skip($"{message} (Set {ServerRequirement.EnvironmentVariable}=1 to make this a failure.)");
        }

        return (node!, chromium!, Path.Combine(directory, "dashboard.e2e.mjs"));
    }

    private static string? Which(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, name))
            .FirstOrDefault(File.Exists);

    private static async Task<(int ExitCode, string Output, string Error)> RunNodeAsync(string node, string script, Dictionary<string, string> environment)
    {
        var start = new ProcessStartInfo(node)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetDirectoryName(script)!,
        };
        start.ArgumentList.Add(script);
        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("node did not start");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(BrowserTimeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None);
            return (-1, await output, $"timed out after {BrowserTimeout}\n{await error}");
        }

        return (process.ExitCode, await output, await error);
    }
}
