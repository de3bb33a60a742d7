using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Outbox.AspNetCore.Tests.Infrastructure;

namespace Outbox.AspNetCore.Tests.Admin;

/// <summary>The admin API of a host with two outboxes: it lists them, and each outbox endpoint takes <c>?outbox=</c>.</summary>
public sealed class OutboxAdminMultipleOutboxesTests : IAsyncDisposable
{
    private readonly string _billingPath = Path.Combine(Path.GetTempPath(), $"outbox-admin-billing-{Guid.NewGuid():N}.db");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Outboxes_TwoOutboxes_ListsBothAndEachEndpointShowsTheOutboxAsked()
    {
        var billingConnection = new SqliteConnectionStringBuilder { DataSource = _billingPath, DefaultTimeout = 30 }.ToString();
        await using (var create = BillingContext(billingConnection))
        {
            await create.Database.EnsureCreatedAsync(Ct);
        }

        await using var app = await AdminTestApp.StartAsync(
            o => o.AuthorizationPolicy = AdminTestApp.Policy,
            builder =>
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
            await billing.SaveChangesAsync(Ct);
        }

        using var client = app.Client();
        // The listed backlog is the monitor's last reading (refreshed every second here): wait for it to see the two.
        Dictionary<string, JsonElement> outboxes = [];
        var deadline = DateTime.UtcNow.AddSeconds(60);
        do
        {
            var list = await client.GetFromJsonAsync<JsonElement>("outbox/api/outboxes", Ct);
            outboxes = list.GetProperty("outboxes").EnumerateArray().ToDictionary(o => o.GetProperty("name").GetString()!);
            if (outboxes.TryGetValue("billing", out var b) && b.TryGetProperty("backlog", out var r) && r.GetProperty("pending").GetInt64() == 2)
            {
                break;
            }

            await Task.Delay(100, Ct);
        }
        while (DateTime.UtcNow < deadline);

        Assert.Equal(["billing", "default"], outboxes.Keys.Order());
        Assert.True(outboxes["default"].GetProperty("isDefault").GetBoolean());
        Assert.False(outboxes["billing"].GetProperty("isDefault").GetBoolean());
        Assert.Equal(2, outboxes["billing"].GetProperty("backlog").GetProperty("pending").GetInt64());

        var billingPage = await client.GetFromJsonAsync<JsonElement>("outbox/api/pending?outbox=billing", Ct);
        Assert.Equal(["billing", "billing"], billingPage.GetProperty("items").EnumerateArray().Select(m => m.GetProperty("destination").GetString()));
        var defaultPage = await client.GetFromJsonAsync<JsonElement>("outbox/api/pending", Ct);
        Assert.Equal(3, defaultPage.GetProperty("items").GetArrayLength());
        Assert.All(defaultPage.GetProperty("items").EnumerateArray(), m => Assert.Equal("orders", m.GetProperty("destination").GetString()));

        using var unknown = await client.GetAsync("outbox/api/pending?outbox=shipping", Ct);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        var problem = await unknown.Content.ReadAsStringAsync(Ct);
        Assert.Contains("no outbox 'shipping'", problem, StringComparison.Ordinal);
        Assert.Contains("'billing'", problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Tenants_DatabasePerTenantOutbox_ListsItsTenantsAndEachTenantsPendingRowsFromItsDatabase()
    {
        await using var app = await StartTenantsAsync(dispatcherEnabled: true);
        using var client = app.Client();
        var listed = await client.GetFromJsonAsync<JsonElement>("outbox/api/tenants?outbox=tenants", Ct);
        Assert.Equal("tenants", listed.GetProperty("outbox").GetString());
        Assert.Equal(["north", "south"], listed.GetProperty("tenants").EnumerateArray().Select(t => t.GetProperty("tenantId").GetString()));
        var outboxes = await client.GetFromJsonAsync<JsonElement>("outbox/api/outboxes", Ct);
        Assert.Equal(2, outboxes.GetProperty("outboxes").EnumerateArray().Single(o => o.GetProperty("name").GetString() == "tenants").GetProperty("tenants").GetInt32());

        await AssertEachTenantsPendingRowsAsync(client);

        using var noTenant = await client.GetAsync("outbox/api/pending?outbox=tenants", Ct);
        Assert.Equal(HttpStatusCode.NotFound, noTenant.StatusCode);
        Assert.Contains("add ?tenant=<tenant id>", await noTenant.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        using var notPerTenant = await client.GetAsync("outbox/api/tenants", Ct);
        Assert.Equal(HttpStatusCode.NotFound, notPerTenant.StatusCode);
    }

    [Fact]
    public async Task Tenants_DispatcherDisabled_TheAdminApiStillReadsEachTenantsRowsThroughTheTenantSource()
    {
        // An admin-only host (Outbox:Outboxes:tenants:Dispatcher:Enabled false) runs no tenant, but the rows are
        // still there: the admin API finds the tenant's database through the source.
        await using var app = await StartTenantsAsync(dispatcherEnabled: false);
        using var client = app.Client();

        var listed = await client.GetFromJsonAsync<JsonElement>("outbox/api/tenants?outbox=tenants", Ct);
        Assert.Empty(listed.GetProperty("tenants").EnumerateArray());
        await AssertEachTenantsPendingRowsAsync(client);

        using var unknown = await client.GetAsync("outbox/api/pending?outbox=tenants&tenant=east", Ct);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Contains("no tenant 'east'", await unknown.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
    }

    /// <summary>Each tenant's pending rows, read in its own database: north's 2 and south's 1 (their destination is the tenant id).</summary>
    private static async Task AssertEachTenantsPendingRowsAsync(HttpClient client)
    {
        foreach (var (tenant, count) in new[] { ("north", 2), ("south", 1) })
        {
            var page = await client.GetFromJsonAsync<JsonElement>($"outbox/api/pending?outbox=tenants&tenant={tenant}", Ct);
            Assert.Equal(Enumerable.Repeat(tenant, count), page.GetProperty("items").EnumerateArray().Select(m => m.GetProperty("destination").GetString()));
        }
    }

    /// <summary>
    /// A host with outbox <c>tenants</c> keeping a SQLite file per tenant (north, south), and 2 and 1 messages pending
    /// in them (scheduled an hour ahead, so they stay pending while the tenants' dispatchers run).
    /// </summary>
    private async Task<AdminTestApp> StartTenantsAsync(bool dispatcherEnabled)
    {
        var tenants = new[] { "north", "south" }
            .Select(id => new OutboxDatabase(id, new SqliteConnectionStringBuilder { DataSource = $"{_billingPath}.{id}", DefaultTimeout = 30 }.ToString()))
            .ToList();
        foreach (var tenant in tenants)
        {
            await using var create = BillingContext(tenant.ConnectionString);
            await create.Database.EnsureCreatedAsync(Ct);
        }

        var app = await AdminTestApp.StartAsync(
            o => o.AuthorizationPolicy = AdminTestApp.Policy,
            builder =>
            {
                builder.Services.AddDbContext<BillingAdminDbContext>((sp, o) => o.UseSqlite(sp.GetRequiredService<OutboxTenantContext>().ConnectionString).UseOutbox(sp));
                builder.Services.AddOutbox("tenants", o => o.Enabled = dispatcherEnabled)
                    .UseSqlite<BillingAdminDbContext>().UseDatabasePerTenant(new Listed(tenants)).UseInMemoryTransport();
            });

        try
        {
            foreach (var (tenant, count) in new[] { (tenants[0], 2), (tenants[1], 1) })
            {
                await using var billing = BillingContext(tenant.ConnectionString);
                for (var i = 0; i < count; i++)
                {
                    billing.Publish(new OrderPlaced(Guid.NewGuid(), $"{tenant.TenantId}-{i}", 1), new PublishOptions { Destination = tenant.TenantId, DeliverAfter = DateTimeOffset.UtcNow.AddHours(1) });
                }

                await billing.SaveChangesAsync(Ct);
            }

            return app;
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }
    }

    public ValueTask DisposeAsync()
    {
        SqliteConnection.ClearAllPools();
        foreach (var suffix in new[] { "", "-wal", "-shm", ".north", ".north-wal", ".north-shm", ".south", ".south-wal", ".south-shm" })
        {
            File.Delete(_billingPath + suffix);
        }

        return ValueTask.CompletedTask;
    }

    private sealed class Listed(IReadOnlyCollection<OutboxDatabase> databases) : IOutboxDatabaseSource
    {
        public ValueTask<IReadOnlyCollection<OutboxDatabase>> GetDatabasesAsync(CancellationToken cancellationToken) => ValueTask.FromResult(databases);
    }

    private static BillingAdminDbContext BillingContext(string connectionString) =>
        new(new DbContextOptionsBuilder<BillingAdminDbContext>().UseSqlite(connectionString).UseOutbox().Options);
}

/// <summary>A second module's DbContext, with its own outbox tables.</summary>
public sealed class BillingAdminDbContext(DbContextOptions<BillingAdminDbContext> options) : DbContext(options)
{
    protected override void OnModelCreating(ModelBuilder modelBuilder) => modelBuilder.AddOutbox();
}
