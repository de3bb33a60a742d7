using System.Net;
using System.Net.Http.Headers;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Outbox.AspNetCore;
using Outbox.EntityFrameworkCore;

namespace Outbox.AspNetCore.Tests.Infrastructure;

/// <summary>
/// A real ASP.NET Core app on Kestrel at 127.0.0.1 (a free port), wired the way a user would: a SQLite DbContext with
/// the outbox and inbox, AddOutbox().UseSqlite(), header-based test authentication, an "OutboxAdmin" policy (role
/// "ops"), AddOutboxAdmin() and MapOutboxAdmin("/outbox").
/// </summary>
public sealed class AdminTestApp : IAsyncDisposable
{
    public const string Policy = "OutboxAdmin";

    private readonly string _path;

    private AdminTestApp(WebApplication app, string path, Uri baseAddress)
    {
        App = app;
        _path = path;
        BaseAddress = baseAddress;
        ConnectionString = new SqliteConnectionStringBuilder { DataSource = path, DefaultTimeout = 30 }.ToString();
    }

    public WebApplication App { get; }

    public Uri BaseAddress { get; }

    public string ConnectionString { get; }

    public IServiceProvider Services => App.Services;

    public static Task<AdminTestApp> StartAsync(Action<OutboxAdminEndpointOptions>? configureAdmin = null) =>
        StartAsync(configureAdmin, static _ => { });

    public static async Task<AdminTestApp> StartAsync(Action<OutboxAdminEndpointOptions>? configureAdmin, Action<WebApplicationBuilder> configureBuilder)
    {
        var path = Path.Combine(Path.GetTempPath(), $"outbox-admin-test-{Guid.NewGuid():N}.db");
        var connectionString = new SqliteConnectionStringBuilder { DataSource = path, DefaultTimeout = 30 }.ToString();
        await using (var create = CreateContext(connectionString))
        {
            await create.Database.EnsureCreatedAsync(TestContext.Current.CancellationToken);
        }

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { EnvironmentName = "Development" });
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Logging.ClearProviders();
        builder.Services.AddDbContext<AdminTestDbContext>((sp, o) => o.UseSqlite(connectionString).UseOutbox(sp));
        builder.Services.AddOutbox(o =>
        {
            o.Enabled = false; // tests look at rows; nothing dispatches them away
            o.BacklogRefreshInterval = TimeSpan.FromSeconds(1);
        }).UseSqlite<AdminTestDbContext>().UseInMemoryTransport();
        builder.Services.AddAuthentication(HeaderAuthenticationHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, HeaderAuthenticationHandler>(HeaderAuthenticationHandler.SchemeName, null);
        builder.Services.AddAuthorization(o => o.AddPolicy(Policy, p => p.RequireAuthenticatedUser().RequireRole("ops")));
        builder.Services.AddOutboxAdmin(o =>
        {
            o.StatsBucket = TimeSpan.FromSeconds(1);
            o.StatsWindow = TimeSpan.FromMinutes(2);
            o.DashboardRefresh = TimeSpan.FromMilliseconds(500);
        });
        configureBuilder(builder);

        var app = builder.Build();
        app.UseAuthentication();
        app.UseAuthorization();
        app.MapOutboxAdmin("/outbox", configureAdmin ?? (o => o.AuthorizationPolicy = Policy));
        await app.StartAsync(TestContext.Current.CancellationToken);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new AdminTestApp(app, path, new Uri(address.Replace("[::]", "127.0.0.1", StringComparison.Ordinal)));
    }

    /// <summary>A client; with <paramref name="user"/>, authenticated with <paramref name="roles"/>.</summary>
    public HttpClient Client(string? user = "alice", string roles = "ops")
    {
        var client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        client.DefaultRequestHeaders.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        if (user is not null)
        {
            client.DefaultRequestHeaders.Add("X-Test-User", user);
            client.DefaultRequestHeaders.Add("X-Test-Roles", roles);
        }

        return client;
    }

    public AdminTestDbContext CreateContext() => CreateContext(ConnectionString);

    /// <summary>Publishes <paramref name="count"/> messages, keyed by <paramref name="partitionKey"/> when given.</summary>
    public async Task<List<Guid>> PublishAsync(int count, string? partitionKey = null)
    {
        await using var context = CreateContext();
        var ids = new List<Guid>();
        for (var i = 0; i < count; i++)
        {
            ids.Add(context.Publish(new OrderPlaced(Guid.NewGuid(), $"N-{i}", i), new PublishOptions { PartitionKey = partitionKey, Destination = "orders" }));
        }

        await context.SaveChangesAsync(TestContext.Current.CancellationToken);
        return ids;
    }

    /// <summary>Adds a dead letter as the dispatcher would have left it.</summary>
    public async Task<DeadLetterRecord> AddDeadLetterAsync(long id, string? partitionKey = "order-7", long? sequence = 1, string reason = "Rejected by the transport: no route")
    {
        var record = new DeadLetterRecord
        {
            Id = id,
            MessageId = Guid.CreateVersion7(),
            Destination = "orders",
            MessageType = "Shop.OrderPlaced",
            PartitionKey = partitionKey,
            SequenceNumber = sequence,
            Payload = """{"orderId":"7","total":12.5}"""u8.ToArray(),
            ContentType = "application/json",
            Headers = """{"tenant":"acme"}""",
            CreatedAt = DateTime.UtcNow.AddMinutes(-30),
            Attempts = 10,
            Reason = reason,
            DeadLetteredAt = DateTime.UtcNow.AddMinutes(-5),
        };
        await using var context = CreateContext();
        context.Set<DeadLetterRecord>().Add(record);
        await context.SaveChangesAsync(TestContext.Current.CancellationToken);
        return record;
    }

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync(CancellationToken.None);
        await App.DisposeAsync();
        SqliteConnection.ClearAllPools();
        foreach (var suffix in new[] { "", "-wal", "-shm" })
        {
            File.Delete(_path + suffix);
        }
    }

    private static AdminTestDbContext CreateContext(string connectionString) =>
        new(new DbContextOptionsBuilder<AdminTestDbContext>().UseSqlite(connectionString).UseOutbox().Options);
}
