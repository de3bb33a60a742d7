using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Outbox.AspNetCore.Tests.Infrastructure;
using Outbox.EntityFrameworkCore;
using Polly;

namespace Outbox.AspNetCore.Tests.Admin;

/// <summary>The admin API over HTTP, against a real Kestrel app on 127.0.0.1 and a real SQLite database.</summary>
public sealed class OutboxAdminApiTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    // ---- Authorization ----------------------------------------------------------------------------------------

    [Fact]
    public async Task MapOutboxAdmin_WithoutPolicy_IsRefusedAtMappingWithWhatToDo()
    {
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => AdminTestApp.StartAsync(_ => { }));

        Assert.Contains("requires an authorization policy", error.Message, StringComparison.Ordinal);
        Assert.Contains("AllowAnonymous = true", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MapOutboxAdmin_UnregisteredPolicy_IsRefusedAtMapping()
    {
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => AdminTestApp.StartAsync(o => o.AuthorizationPolicy = "Typo"));

        Assert.Contains("'Typo' is not registered", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MapOutboxAdmin_WithoutAddOutboxAdmin_IsRefusedAtMapping()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Logging.ClearProviders();
        await using var app = builder.Build();

        var error = Assert.Throws<InvalidOperationException>(() => app.MapOutboxAdmin(o => o.AllowAnonymous = true));

        Assert.Contains("AddOutboxAdmin()", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("outbox/api/stats")]
    [InlineData("outbox/api/dead-letters")]
    [InlineData("outbox/")]
    [InlineData("outbox/dashboard.js")]
    public async Task Endpoints_RequireThePolicy(string path)
    {
        await using var app = await AdminTestApp.StartAsync();

        using var anonymous = app.Client(user: null);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync(path, Ct)).StatusCode);
        using var notOps = app.Client(roles: "sales");
        Assert.Equal(HttpStatusCode.Forbidden, (await notOps.GetAsync(path, Ct)).StatusCode);
        using var ops = app.Client();
        Assert.Equal(HttpStatusCode.OK, (await ops.GetAsync(path, Ct)).StatusCode);
    }

    [Fact]
    public async Task Requeue_WithoutAuthorization_DoesNotMoveTheRow()
    {
        await using var app = await AdminTestApp.StartAsync();
        await app.AddDeadLetterAsync(5);
        using var anonymous = app.Client(user: null);

        var response = await anonymous.PostAsJsonAsync("outbox/api/dead-letters/requeue", new { ids = new[] { 5 } }, Ct);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        await using var check = app.CreateContext();
        Assert.Equal(1, await check.Set<DeadLetterRecord>().CountAsync(Ct));
    }

    [Fact]
    public async Task AllowAnonymous_SetOnPurpose_ServesWithoutAUser()
    {
        await using var app = await AdminTestApp.StartAsync(o => o.AllowAnonymous = true);
        using var anonymous = app.Client(user: null);

        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("outbox/api/pending", Ct)).StatusCode);
    }

    // ---- Validation: ProblemDetails ---------------------------------------------------------------------------

    [Theory]
    [InlineData("outbox/api/pending?pageSize=0", "pageSize")]
    [InlineData("outbox/api/pending?pageSize=501", "pageSize")]
    [InlineData("outbox/api/dead-letters?after=abc", "after")]
    [InlineData("outbox/api/dead-letters?after=-1", "after")]
    [InlineData("outbox/api/dead-letters?order=sideways", "order")]
    [InlineData("outbox/api/dead-letters?from=yesterday", "from")]
    [InlineData("outbox/api/dead-letters?from=2026-01-31T08:00:00", "from")]
    [InlineData("outbox/api/dead-letters?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", "from")]
    [InlineData("outbox/api/pending?pageSize=5&pageSize=6", "pageSize")]
    [InlineData("outbox/api/dead-letters/abc", "id")]
    [InlineData("outbox/api/dead-letters/0", "id")]
    [InlineData("outbox/api/inbox/dead-letters?consumer=", null)]
    public async Task Get_BadInput_Is400ProblemNamingTheField(string path, string? field)
    {
        await using var app = await AdminTestApp.StartAsync();
        using var client = app.Client();

        var response = await client.GetAsync(path, Ct);

        if (field is null)
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode); // an empty filter is no filter
            return;
        }

        await AssertProblemAsync(response, HttpStatusCode.BadRequest, field);
    }

    [Theory]
    [InlineData("""{}""", "ids")]
    [InlineData("""{"ids":[]}""", "ids")]
    [InlineData("""{"ids":[0]}""", "ids")]
    [InlineData("""{"ids":["x"]}""", "ids[0]")]
    [InlineData("""not json""", "body")]
    public async Task Requeue_BadBody_Is400ProblemNamingTheField(string body, string field)
    {
        await using var app = await AdminTestApp.StartAsync();
        using var client = app.Client();

        var response = await client.PostAsync("outbox/api/dead-letters/requeue", new StringContent(body, Encoding.UTF8, "application/json"), Ct);

        await AssertProblemAsync(response, HttpStatusCode.BadRequest, field);
    }

    [Fact]
    public async Task Requeue_TooManyIds_Is400()
    {
        await using var app = await AdminTestApp.StartAsync();
        using var client = app.Client();

        var response = await client.PostAsJsonAsync("outbox/api/dead-letters/requeue", new { ids = Enumerable.Range(1, 1001) }, Ct);

        await AssertProblemAsync(response, HttpStatusCode.BadRequest, "ids");
    }

    [Fact]
    public async Task Requeue_NotJson_Is415Problem()
    {
        await using var app = await AdminTestApp.StartAsync();
        using var client = app.Client();

        var response = await client.PostAsync("outbox/api/dead-letters/requeue", new FormUrlEncodedContent([new("ids", "1")]), Ct);

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Purge_BothIdsAndBefore_Is400()
    {
        await using var app = await AdminTestApp.StartAsync();
        using var client = app.Client();

        var response = await client.PostAsJsonAsync("outbox/api/dead-letters/purge", new { ids = new[] { 1 }, before = DateTimeOffset.UtcNow }, Ct);

        await AssertProblemAsync(response, HttpStatusCode.BadRequest, "ids");
    }

    [Theory]
    [InlineData("outbox/api/dead-letters/999")]
    [InlineData("outbox/api/pending/999")]
    [InlineData("outbox/api/inbox/dead-letters/999")]
    public async Task Get_UnknownId_Is404Problem(string path)
    {
        await using var app = await AdminTestApp.StartAsync();
        using var client = app.Client();

        var response = await client.GetAsync(path, Ct);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.Contains("999", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Requeue_OnlyUnknownIds_Is404ListingThem()
    {
        await using var app = await AdminTestApp.StartAsync();
        using var client = app.Client();

        var response = await client.PostAsJsonAsync("outbox/api/dead-letters/requeue", new { ids = new[] { 404, 405 } }, Ct);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.Equal([404L, 405L], problem.GetProperty("notFound").EnumerateArray().Select(e => e.GetInt64()));
    }

    // ---- Behaviour --------------------------------------------------------------------------------------------

    [Fact]
    public async Task Requeue_MovesTheDeadLetterBackIntoTheOutboxTable()
    {
        await using var app = await AdminTestApp.StartAsync();
        var dead = await app.AddDeadLetterAsync(5, partitionKey: "order-7", sequence: 3);
        await app.AddDeadLetterAsync(6);
        using var client = app.Client();

        var response = await client.PostAsJsonAsync("outbox/api/dead-letters/requeue", new { ids = new[] { 5, 77 } }, Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
        var requeued = Assert.Single(body.GetProperty("requeued").EnumerateArray().ToList());
        Assert.Equal(5, requeued.GetProperty("deadLetterId").GetInt64());
        Assert.Equal(dead.MessageId, requeued.GetProperty("messageId").GetGuid());
        Assert.Equal([77L], body.GetProperty("notFound").EnumerateArray().Select(e => e.GetInt64()));

        await using var check = app.CreateContext();
        Assert.Equal([6L], await check.Set<DeadLetterRecord>().Select(d => d.Id).ToListAsync(Ct));
        var row = Assert.Single(await check.Set<OutboxRecord>().ToListAsync(Ct));
        Assert.Equal(requeued.GetProperty("position").GetInt64(), row.Id);
        Assert.Equal((dead.MessageId, "order-7", 3L, 0), (row.MessageId, row.PartitionKey!, row.SequenceNumber!.Value, row.Attempts));
        Assert.Equal(dead.Payload, row.Payload);
        Assert.Equal(dead.Headers, row.Headers);
    }

    [Fact]
    public async Task Purge_ByIdsAndBefore_DeletesDeadLetters()
    {
        await using var app = await AdminTestApp.StartAsync();
        await app.AddDeadLetterAsync(1);
        await app.AddDeadLetterAsync(2);
        await app.AddDeadLetterAsync(3);
        using var client = app.Client();

        var byId = await client.PostAsJsonAsync("outbox/api/dead-letters/purge", new { ids = new[] { 1, 9 } }, Ct);
        Assert.Equal(1, (await byId.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("purged").GetInt32());
        var before = await client.PostAsJsonAsync("outbox/api/dead-letters/purge", new { before = DateTimeOffset.UtcNow }, Ct);
        Assert.Equal(2, (await before.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("purged").GetInt32());

        await using var check = app.CreateContext();
        Assert.Equal(0, await check.Set<DeadLetterRecord>().CountAsync(Ct));
    }

    [Fact]
    public async Task ListAndShow_PendingMessages_PageWithCursorAndShowPayloadAsText()
    {
        await using var app = await AdminTestApp.StartAsync();
        var ids = await app.PublishAsync(3, partitionKey: "order-1");
        using var client = app.Client();

        var first = await client.GetFromJsonAsync<JsonElement>("outbox/api/pending?pageSize=2", Ct);
        var items = first.GetProperty("items").EnumerateArray().ToList();
        Assert.Equal(2, items.Count);
        Assert.Equal("Ready", items[0].GetProperty("state").GetString());
        var next = first.GetProperty("next").GetInt64();
        var second = await client.GetFromJsonAsync<JsonElement>($"outbox/api/pending?pageSize=2&after={next}", Ct);
        Assert.Single(second.GetProperty("items").EnumerateArray());
        Assert.False(second.TryGetProperty("next", out _));

        var filtered = await client.GetFromJsonAsync<JsonElement>("outbox/api/pending?partitionKey=order-2", Ct);
        Assert.Empty(filtered.GetProperty("items").EnumerateArray());

        var position = items[0].GetProperty("id").GetInt64();
        var one = await client.GetFromJsonAsync<JsonElement>($"outbox/api/pending/{position}", Ct);
        Assert.Equal(ids[0], one.GetProperty("messageId").GetGuid());
        Assert.Equal("utf-8", one.GetProperty("payload").GetProperty("encoding").GetString());
        Assert.Contains("\"number\":\"N-0\"", one.GetProperty("payload").GetProperty("data").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task InboxDeadLetters_ListShowAndPurge()
    {
        await using var app = await AdminTestApp.StartAsync();
        await using (var context = app.CreateContext())
        {
            context.Set<InboxDeadLetterRecord>().Add(new InboxDeadLetterRecord
            {
                Consumer = "payments",
                MessageId = "not-a-guid",
                Payload = [1, 2, 3],
                ContentType = "application/octet-stream",
                Reason = "poison: the message id is not a GUID",
                DeadLetteredAt = DateTime.UtcNow,
            });
            await context.SaveChangesAsync(Ct);
        }

        using var client = app.Client();
        var page = await client.GetFromJsonAsync<JsonElement>("outbox/api/inbox/dead-letters?consumer=payments", Ct);
        var item = Assert.Single(page.GetProperty("items").EnumerateArray().ToList());
        var id = item.GetProperty("id").GetInt64();
        var one = await client.GetFromJsonAsync<JsonElement>($"outbox/api/inbox/dead-letters/{id}", Ct);
        Assert.Equal("base64", one.GetProperty("payload").GetProperty("encoding").GetString());
        Assert.Equal("AQID", one.GetProperty("payload").GetProperty("data").GetString());

        var purge = await client.PostAsJsonAsync("outbox/api/inbox/dead-letters/purge", new { ids = new[] { id } }, Ct);
        Assert.Equal(1, (await purge.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("purged").GetInt32());
    }

    [Fact]
    public async Task Stats_ShowsTheBacklogAndTheMeterHistory()
    {
        await using var app = await AdminTestApp.StartAsync();
        await app.PublishAsync(4);
        await app.AddDeadLetterAsync(8);
        using var client = app.Client();
        OutboxTelemetry.RecordPublished(3);

        // Wait for a reading taken after both writes: one taken between them (the 4 pending rows, not yet the dead
        // letter) is a true reading too, and on a loaded machine the backlog monitor does take it.
        JsonElement stats = default;
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (DateTime.UtcNow < deadline)
        {
            stats = await client.GetFromJsonAsync<JsonElement>("outbox/api/stats", Ct);
            if (stats.TryGetProperty("backlog", out var b) && b.GetProperty("pending").GetInt64() == 4 && b.GetProperty("deadLetters").GetInt64() == 1)
            {
                break;
            }

            await Task.Delay(100, Ct);
        }

        var backlog = stats.GetProperty("backlog");
        Assert.Equal(4, backlog.GetProperty("pending").GetInt64());
        Assert.Equal(1, backlog.GetProperty("deadLetters").GetInt64());
        Assert.True(stats.GetProperty("inboxAvailable").GetBoolean());
        Assert.Equal(1.0, stats.GetProperty("bucketSeconds").GetDouble());
        var series = stats.GetProperty("series").EnumerateArray().ToList();
        Assert.Equal(120, series.Count);
        Assert.True(series.Sum(s => s.GetProperty("published").GetInt64()) >= 3, "the published counter reaches the history");
        Assert.Equal("no-store", string.Join(",", (await client.GetAsync("outbox/api/stats", Ct)).Headers.CacheControl?.ToString()));
    }

    [Fact]
    public async Task Dashboard_IsServedFromTheAssemblyWithAStrictPolicyAndTheBasePath()
    {
        await using var app = await AdminTestApp.StartAsync();
        using var client = app.Client();

        var page = await client.GetAsync("outbox/", Ct);
        var html = await page.Content.ReadAsStringAsync(Ct);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        Assert.Contains("data-base=\"/outbox\"", html, StringComparison.Ordinal);
        Assert.Contains("src=\"/outbox/dashboard.js\"", html, StringComparison.Ordinal);
        Assert.DoesNotContain("http", html.Replace("http://www.w3.org", "", StringComparison.Ordinal), StringComparison.OrdinalIgnoreCase);
        var csp = page.Headers.GetValues("Content-Security-Policy").Single();
        Assert.Contains("script-src 'self'", csp, StringComparison.Ordinal);
        Assert.Contains("frame-ancestors 'none'", csp, StringComparison.Ordinal);

        var script = await client.GetAsync("outbox/dashboard.js", Ct);
        Assert.Equal("text/javascript", script.Content.Headers.ContentType?.MediaType);
        Assert.DoesNotContain("innerHTML", await script.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("outbox/dashboard.css", Ct)).StatusCode);
    }

    [Fact]
    public async Task StoreFailure_Is503ProblemWithoutLeakingTheMessage()
    {
        await using var app = await AdminTestApp.StartAsync();
        File.Delete(new Microsoft.Data.Sqlite.SqliteConnectionStringBuilder(app.ConnectionString).DataSource);
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        await using (var context = app.CreateContext())
        {
            await context.Database.ExecuteSqlRawAsync("CREATE TABLE unrelated (x INTEGER)", Ct); // a database without the outbox tables
        }

        using var client = app.Client();
        var response = await client.GetAsync("outbox/api/pending", Ct);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.Contains("SqliteException", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    // ---- Endpoints ----------------------------------------------------------------------------------------------

    [Fact]
    public async Task Endpoints_TransportRefusesConnections_ShowsTheDestinationOpenWithTheRealCause()
    {
        await using var app = await AdminTestApp.StartAsync(null, static builder =>
        {
            builder.Services.Configure<OutboxDispatcherOptions>(o =>
            {
                o.Enabled = true;
                o.MaxAttempts = 1000; // the outage alone never dead-letters
                o.RetryBaseDelay = TimeSpan.FromMilliseconds(50);
                o.RetryMaxDelay = TimeSpan.FromMilliseconds(200);
                o.PollingInterval = TimeSpan.FromMilliseconds(100);
            });
            builder.Services.Configure<OutboxResilienceOptions>(r => r.Configure = static (pipeline, _) => pipeline.AddCircuitBreaker(
                new Polly.CircuitBreaker.CircuitBreakerStrategyOptions
                {
                    FailureRatio = 0.5,
                    MinimumThroughput = 2,
                    SamplingDuration = TimeSpan.FromSeconds(30),
                    BreakDuration = TimeSpan.FromMinutes(5), // stays open for the test
                    ShouldHandle = args => new ValueTask<bool>(OutboxResilience.IsEndpointFailure(args.Outcome.Exception)),
                }));
            builder.Services.AddSingleton<IMessageTransport, RefusingTransport>();
        });
        await app.PublishAsync(30);
        using var client = app.Client();

        // Waits on progress (the circuit reported open and a send refused), with a generous bound for a loaded machine.
        JsonElement orders = default;
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (DateTime.UtcNow < deadline)
        {
            var body = await client.GetFromJsonAsync<JsonElement>("outbox/api/endpoints", Ct);
            orders = body.GetProperty("endpoints").EnumerateArray().FirstOrDefault(e => e.GetProperty("destination").GetString() == "orders");
            if (orders.ValueKind == JsonValueKind.Object && orders.GetProperty("state").GetString() == "open" && orders.GetProperty("refused").GetInt64() > 0)
            {
                break;
            }

            await Task.Delay(100, Ct);
        }

        Assert.True(orders.ValueKind == JsonValueKind.Object, "the destination 'orders' never showed up in api/endpoints");
        Assert.Equal("open", orders.GetProperty("state").GetString());
        Assert.True(orders.GetProperty("refused").GetInt64() > 0, orders.ToString());
        Assert.Equal(typeof(System.Net.Sockets.SocketException).FullName, orders.GetProperty("causeType").GetString());
        Assert.Equal(RefusingTransport.Message, orders.GetProperty("cause").GetString());
        Assert.True(orders.TryGetProperty("since", out _));

        // The stats the dashboard polls carry the same list.
        var stats = await client.GetFromJsonAsync<JsonElement>("outbox/api/stats", Ct);
        Assert.Contains(stats.GetProperty("endpoints").EnumerateArray(), e => e.GetProperty("destination").GetString() == "orders");

        // A pending row refused by the open circuit names the endpoint failure, not Polly's "The circuit is now open".
        string?[] errors = [];
        deadline = DateTime.UtcNow.AddSeconds(90);
        while (DateTime.UtcNow < deadline)
        {
            var page = await client.GetFromJsonAsync<JsonElement>("outbox/api/pending?pageSize=100", Ct);
            errors = page.GetProperty("items").EnumerateArray()
                .Select(m => m.TryGetProperty("error", out var e) ? e.GetString() : null)
                .ToArray();
            if (errors.Any(e => e?.Contains("circuit of destination 'orders' is open", StringComparison.Ordinal) == true))
            {
                break;
            }

            await Task.Delay(100, Ct);
        }

        var refused = errors.Where(e => e?.Contains("is open", StringComparison.Ordinal) == true).ToList();
        Assert.NotEmpty(refused);
        Assert.All(refused, e =>
        {
            Assert.Contains(RefusingTransport.Message, e, StringComparison.Ordinal);
            Assert.DoesNotContain("The circuit is now open", e, StringComparison.Ordinal);
        });
    }

    private sealed class RefusingTransport : IMessageTransport
    {
        public const string Message = "Connection refused (test receiver 127.0.0.1:9)";

        public Task SendAsync(OutboxMessage message, CancellationToken cancellationToken) =>
            Task.FromException(new System.Net.Sockets.SocketException((int)System.Net.Sockets.SocketError.ConnectionRefused, Message));
    }

    private static async Task AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string field)
    {
        var text = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(status == response.StatusCode, $"expected {status}, got {response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(text).RootElement;
        Assert.Equal((int)status, problem.GetProperty("status").GetInt32());
        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out var messages), $"no error for '{field}' in {text}");
        Assert.NotEmpty(messages.EnumerateArray());
    }
}
