using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Outbox.Http.Tests.Infrastructure;

/// <summary>Real hosts: a receiving web app on Kestrel (127.0.0.1, a free port) and a sending dispatcher host.</summary>
public static class Apps
{
    public const string Consumer = "greetings";

    /// <summary>The key id the test senders sign with and the test receivers hold.</summary>
    public const string KeyId = "test-1";

    /// <summary>The secret of <see cref="KeyId"/> (32 bytes, base64): a test value, never a real one.</summary>
    public static readonly string Secret = Convert.ToBase64String(Enumerable.Range(1, 32).Select(i => (byte)i).ToArray());

    /// <summary>Another valid secret, for rotation and wrong-key tests.</summary>
    public static readonly string OtherSecret = Convert.ToBase64String(Enumerable.Range(101, 32).Select(i => (byte)i).ToArray());

    /// <summary>
    /// A web app whose consumer <see cref="Consumer"/> has a SQLite inbox and is mapped at /inbox/{consumer}, holding the
    /// signing key <see cref="KeyId"/> (which <paramref name="inbox"/> may change).
    /// </summary>
    public static async Task<(WebApplication App, Uri BaseAddress)> StartReceiverAsync(
        TempDatabase database, Action<HttpInboxOptions>? inbox = null, Action<IServiceCollection>? services = null, RequestLog? log = null, string? postgres = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.UseKestrel().UseUrls("http://127.0.0.1:0");
        builder.Services.AddDbContext<ReceiverDb>(o =>
        {
            // The inbox in PostgreSQL when a connection string is given, else in the SQLite file.
            if (postgres is null)
            {
                o.UseSqlite(database.ConnectionString);
            }
            else
            {
                o.UseNpgsql(postgres);
            }
        });
        builder.Services.AddSingleton<GreetingCounter>();
        builder.Services.AddOutboxConsumer<ReceiverDb>(Consumer)
            .AddHandler<Greeting, GreetingHandler>()
            .Configure(o =>
            {
                o.MaxAttempts = 2;
                o.RetryBaseDelay = TimeSpan.FromMilliseconds(10);
                o.RequeueDelay = TimeSpan.Zero;
            })
            .UseHttp(o =>
            {
                o.SigningKeys[KeyId] = Secret;
                inbox?.Invoke(o);
            });
        services?.Invoke(builder.Services);
        var app = builder.Build();
        await using (var scope = app.Services.CreateAsyncScope())
        {
            await scope.ServiceProvider.GetRequiredService<ReceiverDb>().Database.EnsureCreatedAsync(TestContext.Current.CancellationToken);
        }

        log?.Attach(app);
        app.MapOutboxHttpInbox("/inbox/{consumer}");
        await app.StartAsync(TestContext.Current.CancellationToken);
        return (app, AddressOf(app));
    }

    /// <summary>A web app answering every POST with what <paramref name="answer"/> says (a stub receiver).</summary>
    public static async Task<(WebApplication App, Uri BaseAddress)> StartStubAsync(Func<HttpContext, Task> answer)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.UseKestrel().UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        app.MapPost("/{**path}", answer);
        await app.StartAsync(TestContext.Current.CancellationToken);
        return (app, AddressOf(app));
    }

    /// <summary>A dispatcher host with a SQLite outbox posting destination "greetings" to <paramref name="url"/>.</summary>
    public static async Task<IHost> StartSenderAsync(
        TempDatabase database, Uri url, Action<OutboxDispatcherOptions>? dispatcher = null, Action<HttpTransportOptions>? http = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddDbContext<SenderDb>((sp, o) => o.UseSqlite(database.ConnectionString).UseOutbox(sp));
        builder.Services.AddOutbox(o =>
            {
                o.PollingInterval = TimeSpan.FromMilliseconds(50);
                o.RetryBaseDelay = TimeSpan.FromMilliseconds(20);
                o.RetryMaxDelay = TimeSpan.FromMilliseconds(100);
                o.ShutdownTimeout = TimeSpan.FromSeconds(2);
                dispatcher?.Invoke(o);
            })
            .UseSqlite<SenderDb>()
            .UseHttp(o =>
            {
                o.Destinations["greetings"] = url;
                o.SigningKeys["greetings"] = new HttpSigningKey { KeyId = KeyId, Secret = Secret };
                http?.Invoke(o);
            });
        var host = builder.Build();
        await using (var scope = host.Services.CreateAsyncScope())
        {
            await scope.ServiceProvider.GetRequiredService<SenderDb>().Database.EnsureCreatedAsync(TestContext.Current.CancellationToken);
        }

        await host.StartAsync(TestContext.Current.CancellationToken);
        return host;
    }

    /// <summary>Publishes one message per text in ONE transaction, so that the dispatcher's next claim holds them all.</summary>
    public static async Task<List<Guid>> PublishTogetherAsync(IHost sender, IEnumerable<string> texts)
    {
        await using var scope = sender.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<SenderDb>();
        var ids = texts.Select(text => db.Publish(new Greeting(text), new PublishOptions { Destination = "greetings" })).ToList();
        await db.SaveChangesAsync(TestContext.Current.CancellationToken);
        return ids;
    }

    public static async Task<Guid> PublishAsync(IHost sender, string text, string? partitionKey = null)
    {
        await using var scope = sender.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<SenderDb>();
        var id = db.Publish(new Greeting(text), new PublishOptions { Destination = "greetings", PartitionKey = partitionKey });
        await db.SaveChangesAsync(TestContext.Current.CancellationToken);
        return id;
    }

    public static async Task<T> QueryAsync<TContext, T>(IServiceProvider services, Func<TContext, Task<T>> query)
        where TContext : DbContext
    {
        await using var scope = services.CreateAsyncScope();
        return await query(scope.ServiceProvider.GetRequiredService<TContext>());
    }

    /// <summary>
    /// Signs <paramref name="request"/> (made absolute against <paramref name="baseAddress"/>) the way the HTTP transport
    /// does, with <paramref name="keyId"/> and <paramref name="secret"/>, as of <paramref name="at"/> (default now).
    /// </summary>
    public static async Task<HttpRequestMessage> SignAsync(
        HttpRequestMessage request, Uri baseAddress, string keyId = KeyId, string? secret = null, DateTimeOffset? at = null)
    {
        if (!request.RequestUri!.IsAbsoluteUri)
        {
            request.RequestUri = new Uri(baseAddress, request.RequestUri);
        }

        var body = request.Content is null ? [] : await request.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);
        var options = new HttpTransportOptions();
        options.SigningKeys["*"] = new HttpSigningKey { KeyId = keyId, Secret = secret ?? Secret };
        var idHeader = HttpBatchFormat.IsBatch(request.Content?.Headers.ContentType?.ToString()) ? OutboxHttpHeaders.BatchId : OutboxHeaders.MessageId;
        var messageId = request.Headers.TryGetValues(idHeader, out var ids) ? ids.First() : "";
        Assert.True(new HttpRequestSigner(options).TrySign(request, "any", messageId, body, at ?? DateTimeOffset.UtcNow));
        return request;
    }

    /// <summary>Every table of a SQLite database (but the schema version tables) with its row count: what a refused request must leave untouched.</summary>
    public static async Task<Dictionary<string, long>> RowCountsAsync(TempDatabase database)
    {
        await using var connection = new Microsoft.Data.Sqlite.SqliteConnection(database.ConnectionString);
        await connection.OpenAsync(TestContext.Current.CancellationToken);
        var tables = new List<string>();
        await using (var list = connection.CreateCommand())
        {
            // Every table a request could write; not the schema version tables, which hold the row their model seeds.
            list.CommandText = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '%\\_schema' ESCAPE '\\' ORDER BY name";
            await using var reader = await list.ExecuteReaderAsync(TestContext.Current.CancellationToken);
            while (await reader.ReadAsync(TestContext.Current.CancellationToken))
            {
                tables.Add(reader.GetString(0));
            }
        }

        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var table in tables)
        {
            await using var count = connection.CreateCommand();
            count.CommandText = $"SELECT COUNT(*) FROM \"{table}\"";
            counts[table] = (long)(await count.ExecuteScalarAsync(TestContext.Current.CancellationToken))!;
        }

        return counts;
    }

    private static Uri AddressOf(WebApplication app) =>
        new(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single());
}
