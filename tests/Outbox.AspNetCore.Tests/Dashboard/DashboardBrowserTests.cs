using System.Diagnostics;
using System.Reflection;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Outbox.AspNetCore.Tests.Admin;
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

        await using (var context = app.CreateContext())
        {
            context.Set<InboxDeadLetterRecord>().Add(new InboxDeadLetterRecord
            {
                Consumer = "payments",
                MessageId = Guid.CreateVersion7().ToString(),
                MessageType = "Shop.PaymentRequested",
                Payload = "{}"u8.ToArray(),
                ContentType = "application/json",
                Reason = "The handler threw InvalidOperationException: card declined",
                Attempts = 5,
                DeadLetteredAt = DateTime.UtcNow.AddMinutes(-1),
            });
            await context.SaveChangesAsync(TestContext.Current.CancellationToken);
        }

        // The circuit of 'orders' (the pending rows' destination) as the dispatcher reports it after its endpoint
        // refused connections.
        var endpoints = app.Services.GetRequiredService<OutboxEndpointStates>();
        endpoints.EndpointFailed("orders", new System.Net.Sockets.SocketException(111, "Connection refused (orders:443)"));
        endpoints.Refused("orders", 4, halfOpen: false, cause: null);

        // Traffic for the charts while the page runs: what a producer and a consumer of this process would record.
        using var stopFeeding = new CancellationTokenSource();
        var feeding = FeedMetricsAsync(app.Services.GetRequiredService<OutboxMetricsAggregator>(), stopFeeding.Token);

        // Kept under artifacts/ (git-ignored) for a person to look at; the assertions below are on what the page showed.
        var screenshot = Path.Combine(RepositoryArtifacts(), "dashboard-e2e.png");
        var result = await RunNodeAsync(node, script, new Dictionary<string, string>
        {
            ["OUTBOX_URL"] = new Uri(app.BaseAddress, "outbox/").ToString(),
            ["OUTBOX_CHROMIUM"] = chromium,
            ["OUTBOX_REQUEUE_ID"] = "101",
            ["OUTBOX_EXPECT_PENDING"] = "3",
            ["OUTBOX_EXPECT_OPEN_ENDPOINT"] = "orders",
            ["OUTBOX_HEADERS"] = """{"X-Test-User":"browser","X-Test-Roles":"ops"}""",
            ["OUTBOX_SCREENSHOT"] = screenshot,
        });
        await stopFeeding.CancelAsync();
        await feeding;

        Assert.True(result.ExitCode == 0, $"the browser run failed (exit {result.ExitCode}):\n{result.Output}\n{result.Error}");
        var report = JsonDocument.Parse(result.Output.Trim().Split('\n')[^1]).RootElement;
        Assert.True(report.GetProperty("ok").GetBoolean(), result.Output);
        var seen = report.GetProperty("seen");
        Assert.Equal("3", seen.GetProperty("pendingBefore").GetString());
        Assert.Equal("2", seen.GetProperty("deadLettersBefore").GetString());
        Assert.Equal("4", seen.GetProperty("pendingAfter").GetString());
        Assert.Contains("Shop.OrderPlaced", seen.GetProperty("rowText").GetString(), StringComparison.Ordinal);
        var endpointText = seen.GetProperty("endpointText").GetString();
        Assert.Contains("orders", endpointText, StringComparison.Ordinal);
        Assert.Contains("System.Net.Sockets.SocketException: Connection refused (orders:443)", endpointText, StringComparison.Ordinal);
        Assert.Contains("4 refused", endpointText, StringComparison.Ordinal);
        Assert.Equal("1 open", seen.GetProperty("endpointsSummary").GetString());

        // The dead-letter card counts and lists the inbox's dead letters beside the outbox's.
        Assert.Equal("1", seen.GetProperty("inboxDeadLetterCount").GetString());
        var inboxRow = seen.GetProperty("inboxRowText").GetString();
        Assert.Contains("payments", inboxRow, StringComparison.Ordinal);
        Assert.Contains("Shop.PaymentRequested", inboxRow, StringComparison.Ordinal);
        Assert.Contains("card declined", inboxRow, StringComparison.Ordinal);

        // Consumer throughput and latency.
        Assert.True(double.Parse(seen.GetProperty("consumed").GetString()!, System.Globalization.CultureInfo.InvariantCulture) > 0);
        Assert.Matches(@"^\d+(\.\d+)? (ms|s)$", seen.GetProperty("consumerLatency").GetString());

        // Published, dispatched, consumed and failed: each line its own (colour, dash) pair, the legend drawn alike.
        var lines = seen.GetProperty("throughputLines").EnumerateArray()
            .Select(l => (Series: l.GetProperty("series").GetString()!, Stroke: l.GetProperty("stroke").GetString()!, Dash: l.GetProperty("dash").GetString()!))
            .ToList();
        Assert.Equal(["published", "dispatched", "consumed", "failed"], lines.Select(l => l.Series));
        Assert.True(lines.Count == lines.Select(l => (l.Stroke, l.Dash)).Distinct().Count(), $"Lines not distinguishable: {string.Join(", ", lines)}");
        Assert.True(lines.Select(l => l.Stroke).Distinct().Count() >= 3, $"Expected at least 3 colours: {string.Join(", ", lines)}");
        Assert.Equal(4, lines.Select(l => l.Dash).Distinct().Count());
        var legend = seen.GetProperty("throughputLegend").EnumerateArray()
            .Select(l => (Series: l.GetProperty("series").GetString()!, Label: l.GetProperty("label").GetString()!, Stroke: l.GetProperty("stroke").GetString()!, Dash: l.GetProperty("dash").GetString()!))
            .ToList();
        Assert.Equal(["published", "dispatched", "consumed", "failed"], legend.Select(l => l.Label));
        Assert.Equal(lines.Select(l => (l.Series, l.Stroke, l.Dash)), legend.Select(l => (l.Series, l.Stroke, l.Dash)));
        Assert.Equal(["delivery p50", "delivery p95", "consumer p95"], seen.GetProperty("latencyLegend").EnumerateArray().Select(e => e.GetString()));

        // A labelled time axis: clock times, the latest bucket "now", and the window it spans.
        var times = seen.GetProperty("timeLabels").EnumerateArray().Select(e => e.GetString()!).ToList();
        Assert.Equal(5, times.Count);
        Assert.All(times[..^1], t => Assert.Matches(@"^\d{2}:\d{2}:\d{2}$", t));
        Assert.Equal("now", times[^1]);
        Assert.Equal("time (2 min window)", seen.GetProperty("timeCaption").GetString());

        // The pending row's last error is the endpoint failure, not Polly's "The circuit is now open".
        var pendingError = seen.GetProperty("pendingError").GetString();
        Assert.Contains("SocketException: Connection refused (orders:443)", pendingError, StringComparison.Ordinal);
        Assert.DoesNotContain("The circuit is now open", pendingError, StringComparison.Ordinal);
        Assert.True(File.Exists(screenshot), $"No screenshot at {screenshot}.");

        // The click really moved the row: gone from the dead letters, back in the outbox with its identity.
        await using var check = app.CreateContext();
        Assert.Equal([other.Id], await check.Set<DeadLetterRecord>().Select(d => d.Id).ToListAsync(TestContext.Current.CancellationToken));
        var requeued = await check.Set<OutboxRecord>().SingleAsync(r => r.MessageId == target.MessageId, TestContext.Current.CancellationToken);
        Assert.Equal(("order-7", 2L, 0), (requeued.PartitionKey!, requeued.SequenceNumber!.Value, requeued.Attempts));
        Assert.Equal(4, await check.Set<OutboxRecord>().CountAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Dashboard_TwoOutboxes_TheSelectorShowsTheChosenOutbox()
    {
        var (node, chromium, script) = FindTools();
        var billingPath = Path.Combine(Path.GetTempPath(), $"outbox-dashboard-billing-{Guid.NewGuid():N}.db");
        var billingConnection = new SqliteConnectionStringBuilder { DataSource = billingPath, DefaultTimeout = 30 }.ToString();
        try
        {
            await using (var create = BillingContext(billingConnection))
            {
                await create.Database.EnsureCreatedAsync(TestContext.Current.CancellationToken);
            }

            await using var app = await AdminTestApp.StartAsync(null, builder =>
            {
                builder.Services.AddDbContext<BillingAdminDbContext>((sp, o) => o.UseSqlite(billingConnection).UseOutbox(sp));
                builder.Services.AddOutbox("billing", o =>
                {
                    o.Enabled = false;
                    o.BacklogRefreshInterval = TimeSpan.FromSeconds(1);
                }).UseSqlite<BillingAdminDbContext>().UseInMemoryTransport();
            });
            await app.PublishAsync(3);
            await using (var billing = BillingContext(billingConnection))
            {
                billing.Publish(new OrderPlaced(Guid.NewGuid(), "B-1", 1), new PublishOptions { Destination = "billing" });
                billing.Publish(new OrderPlaced(Guid.NewGuid(), "B-2", 2), new PublishOptions { Destination = "billing" });
                await billing.SaveChangesAsync(TestContext.Current.CancellationToken);
            }

            var result = await RunNodeAsync(node, script, new Dictionary<string, string>
            {
                ["OUTBOX_URL"] = new Uri(app.BaseAddress, "outbox/").ToString(),
                ["OUTBOX_CHROMIUM"] = chromium,
                ["OUTBOX_EXPECT_PENDING"] = "3",
                ["OUTBOX_SWITCH_TO"] = "billing",
                ["OUTBOX_EXPECT_PENDING_AFTER_SWITCH"] = "2",
                ["OUTBOX_HEADERS"] = """{"X-Test-User":"browser","X-Test-Roles":"ops"}""",
            });

            Assert.True(result.ExitCode == 0, $"the browser run failed (exit {result.ExitCode}):\n{result.Output}\n{result.Error}");
            var seen = JsonDocument.Parse(result.Output.Trim().Split('\n')[^1]).RootElement.GetProperty("seen");
            Assert.Equal(["billing", "default"], seen.GetProperty("outboxOptions").EnumerateArray().Select(e => e.GetString()).Order());
            Assert.Equal("default", seen.GetProperty("outboxSelected").GetString());
            Assert.Equal("3", seen.GetProperty("pendingBefore").GetString());
            Assert.Equal("2", seen.GetProperty("pendingAfterSwitch").GetString());
            Assert.All(seen.GetProperty("pendingDestinationsAfterSwitch").EnumerateArray(), r => Assert.Contains("billing", r.GetString(), StringComparison.Ordinal));
            Assert.EndsWith("?outbox=billing", seen.GetProperty("urlAfterSwitch").GetString(), StringComparison.Ordinal);
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            foreach (var suffix in new[] { "", "-wal", "-shm" })
            {
                File.Delete(billingPath + suffix);
            }
        }
    }

    [Fact]
    public async Task Dashboard_DatabasePerTenant_TheTenantSelectorShowsTheChosenTenantsRows()
    {
        var (node, chromium, script) = FindTools();
        var stem = Path.Combine(Path.GetTempPath(), $"outbox-dashboard-tenant-{Guid.NewGuid():N}");
        var tenants = new[] { "north", "south" }
            .Select(id => new OutboxDatabase(id, new SqliteConnectionStringBuilder { DataSource = $"{stem}.{id}.db", DefaultTimeout = 30 }.ToString()))
            .ToList();
        try
        {
            foreach (var tenant in tenants)
            {
                await using var create = BillingContext(tenant.ConnectionString);
                await create.Database.EnsureCreatedAsync(TestContext.Current.CancellationToken);
            }

            await using var app = await AdminTestApp.StartAsync(null, builder =>
            {
                builder.Services.AddDbContext<BillingAdminDbContext>((sp, o) => o.UseSqlite(sp.GetRequiredService<OutboxTenantContext>().ConnectionString).UseOutbox(sp));
                builder.Services.AddOutbox("tenants", o => o.BacklogRefreshInterval = TimeSpan.FromSeconds(1))
                    .UseSqlite<BillingAdminDbContext>().UseDatabasePerTenant(new ListedTenants(tenants)).UseInMemoryTransport();
            });
            await app.PublishAsync(3);

            // Scheduled an hour ahead: they stay pending while the tenants' dispatchers run.
            foreach (var (tenant, count) in new[] { (tenants[0], 2), (tenants[1], 1) })
            {
                await using var billing = BillingContext(tenant.ConnectionString);
                for (var i = 0; i < count; i++)
                {
                    billing.Publish(new OrderPlaced(Guid.NewGuid(), $"{tenant.TenantId}-{i}", 1), new PublishOptions { Destination = tenant.TenantId, DeliverAfter = DateTimeOffset.UtcNow.AddHours(1) });
                }

                await billing.SaveChangesAsync(TestContext.Current.CancellationToken);
            }

            var result = await RunNodeAsync(node, script, new Dictionary<string, string>
            {
                ["OUTBOX_URL"] = new Uri(app.BaseAddress, "outbox/").ToString(),
                ["OUTBOX_CHROMIUM"] = chromium,
                ["OUTBOX_EXPECT_PENDING"] = "3",
                ["OUTBOX_SWITCH_TO"] = "tenants",
                ["OUTBOX_EXPECT_PENDING_AFTER_SWITCH"] = "3",
                ["OUTBOX_TENANT_SWITCH_TO"] = "south",
                ["OUTBOX_EXPECT_ROWS_BEFORE_TENANT_SWITCH"] = "2",
                ["OUTBOX_EXPECT_ROWS_AFTER_TENANT_SWITCH"] = "1",
                ["OUTBOX_HEADERS"] = """{"X-Test-User":"browser","X-Test-Roles":"ops"}""",
            });

            Assert.True(result.ExitCode == 0, $"the browser run failed (exit {result.ExitCode}):\n{result.Output}\n{result.Error}");
            var seen = JsonDocument.Parse(result.Output.Trim().Split('\n')[^1]).RootElement.GetProperty("seen");
            Assert.Equal(["north", "south"], seen.GetProperty("tenantOptions").EnumerateArray().Select(e => e.GetString()));
            Assert.Equal("north", seen.GetProperty("tenantSelected").GetString());
            Assert.Equal(2, seen.GetProperty("rowsBeforeTenantSwitch").GetArrayLength());
            Assert.Equal(1, seen.GetProperty("rowsAfterTenantSwitch").GetArrayLength());
            Assert.Contains("tenant=south", seen.GetProperty("urlAfterTenantSwitch").GetString(), StringComparison.Ordinal);
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            foreach (var tenant in tenants)
            {
                foreach (var suffix in new[] { "", "-wal", "-shm" })
                {
                    File.Delete($"{stem}.{tenant.TenantId}.db{suffix}");
                }
            }
        }
    }

    private sealed class ListedTenants(IReadOnlyCollection<OutboxDatabase> databases) : IOutboxDatabaseSource
    {
        public ValueTask<IReadOnlyCollection<OutboxDatabase>> GetDatabasesAsync(CancellationToken cancellationToken) => ValueTask.FromResult(databases);
    }

    private static BillingAdminDbContext BillingContext(string connectionString) =>
        new(new DbContextOptionsBuilder<BillingAdminDbContext>().UseSqlite(connectionString).UseOutbox().Options);

    /// <summary>Every 200 ms until stopped: published, dispatched and consumed counts, and both latencies.</summary>
    private static async Task FeedMetricsAsync(OutboxMetricsAggregator aggregator, CancellationToken stop)
    {
        var consumer = new KeyValuePair<string, object?>("messaging.consumer.group.name", "payments");
        for (var tick = 0; !stop.IsCancellationRequested; tick++)
        {
            var published = 8 + (tick % 5);
            aggregator.Record("outbox.messages.published", published, []);
            aggregator.Record("outbox.messages.dispatched", published - (tick % 3), []);
            aggregator.Record("outbox.inbox.processed", published - 2, [consumer]);
            aggregator.Record("outbox.messages.failed", tick % 4 == 0 ? 1 : 0, []);
            aggregator.Record("outbox.delivery.latency", 0.020 + (tick % 7) / 1000.0, []);
            aggregator.Record("outbox.inbox.duration", 0.005 + (tick % 5) / 1000.0, [consumer]);
            try
            {
                await Task.Delay(200, stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private static string RepositoryArtifacts()
    {
        var directory = typeof(DashboardBrowserTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(a => a.Key == "BrowserTestDirectory").Value!;
        var artifacts = Path.GetFullPath(Path.Combine(directory, "..", "..", "..", "artifacts"));
        Directory.CreateDirectory(artifacts);
        return artifacts;
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
