using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Outbox.AspNetCore.Tests.Health;

public sealed class OutboxHealthResponseWriterTests
{
    [Fact]
    public async Task WriteAsync_Report_WritesEachChecksStatusDescriptionDataAndError()
    {
        var report = new HealthReport(
            new Dictionary<string, HealthReportEntry>
            {
                ["outbox-backlog"] = new(
                    HealthStatus.Degraded,
                    "The oldest pending message waits for 75 s.",
                    TimeSpan.FromMilliseconds(1.25),
                    exception: null,
                    data: new Dictionary<string, object> { ["pending"] = 120L, ["oldest_pending_age_seconds"] = 75.5, ["reading"] = "ok" },
                    tags: ["outbox"]),
                ["outbox-dispatcher"] = new(
                    HealthStatus.Unhealthy,
                    "No claim for 6 minutes.",
                    TimeSpan.FromMilliseconds(0.5),
                    new InvalidOperationException("database down"),
                    data: new Dictionary<string, object> { ["loops"] = 2, ["enabled"] = true },
                    tags: ["outbox", "live"]),
            },
            TimeSpan.FromMilliseconds(3.2));
        var context = new DefaultHttpContext();
        using var body = new MemoryStream();
        context.Response.Body = body;

        await OutboxHealthResponseWriter.WriteAsync(context, report);

        Assert.Equal("application/json; charset=utf-8", context.Response.ContentType);
        using var json = JsonDocument.Parse(body.ToArray());
        var root = json.RootElement;
        Assert.Equal("Unhealthy", root.GetProperty("status").GetString());
        Assert.Equal(3.2, root.GetProperty("totalDurationMs").GetDouble());
        var checks = root.GetProperty("checks").EnumerateArray().ToDictionary(c => c.GetProperty("name").GetString()!);

        var backlog = checks["outbox-backlog"];
        Assert.Equal("Degraded", backlog.GetProperty("status").GetString());
        Assert.Equal("The oldest pending message waits for 75 s.", backlog.GetProperty("description").GetString());
        Assert.Equal(120, backlog.GetProperty("data").GetProperty("pending").GetInt64());
        Assert.Equal(75.5, backlog.GetProperty("data").GetProperty("oldest_pending_age_seconds").GetDouble());
        Assert.Equal("ok", backlog.GetProperty("data").GetProperty("reading").GetString());
        Assert.Equal(["outbox"], backlog.GetProperty("tags").EnumerateArray().Select(t => t.GetString()));
        Assert.False(backlog.TryGetProperty("error", out _));

        var dispatcher = checks["outbox-dispatcher"];
        Assert.Equal("Unhealthy", dispatcher.GetProperty("status").GetString());
        Assert.True(dispatcher.GetProperty("data").GetProperty("enabled").GetBoolean());
        Assert.Equal(2, dispatcher.GetProperty("data").GetProperty("loops").GetInt64());
        Assert.Equal("InvalidOperationException: database down", dispatcher.GetProperty("error").GetString());
    }
}
