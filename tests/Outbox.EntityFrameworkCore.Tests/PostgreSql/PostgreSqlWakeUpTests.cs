using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Outbox.EntityFrameworkCore.Tests.Infrastructure;
using Outbox.Testing;
using Outbox.Transport.InMemory;

namespace Outbox.EntityFrameworkCore.Tests.PostgreSql;

/// <summary>LISTEN/NOTIFY: a publish committed by one process wakes the dispatcher of another.</summary>
public sealed class PostgreSqlWakeUpTests(PostgreSqlFixture fixture) : IClassFixture<PostgreSqlFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Notify_PublishCommittedByAnotherProcess_WakesTheIdleDispatcher()
    {
        await using var database = await fixture.CreateDatabaseAsync();
        var transport = new InMemoryTransport();

        // The dispatcher process: polls only every 5 minutes, so only a notification can explain a prompt delivery.
        using var dispatcher = await OutboxTestHost.StartAsync(database, transport, o => o.PollingInterval = TimeSpan.FromMinutes(5));
        await dispatcher.Services.WaitForOutboxDeliveryAsync(TimeSpan.FromSeconds(30), Ct);
        await Task.Delay(500, Ct); // let the listener connect and the loops go idle

        // The publishing process: no dispatcher of its own, its own connections, its own signal.
        using var publisher = BuildPublisher(database);
        await publisher.StartAsync(Ct);
        var committedAt = DateTime.UtcNow;
        using (var scope = publisher.Services.CreateScope())
        {
            var context = scope.ServiceProvider.GetRequiredService<TestDbContext>();
            context.Publish(new OrderPlaced(Guid.NewGuid(), "cross-process", 1));
            await context.SaveChangesAsync(Ct);
        }

        var deadline = DateTime.UtcNow.AddSeconds(30); // polling is 5 minutes: only a notification explains a delivery by then
        while (transport.AcceptedCount == 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10, Ct);
        }

        Assert.Equal(1, transport.AcceptedCount);
        Assert.True(DateTime.UtcNow - committedAt < TimeSpan.FromSeconds(30));
        await publisher.StopAsync(Ct);
        await dispatcher.StopAsync(Ct);
    }

    [Fact]
    public async Task Notify_ListenerConnectionKilled_ReconnectsAndStillWakes()
    {
        await using var database = (PostgreSqlTestDatabase)await fixture.CreateDatabaseAsync();
        var transport = new InMemoryTransport();
        using var dispatcher = await OutboxTestHost.StartAsync(database, transport, o => o.PollingInterval = TimeSpan.FromMinutes(5));
        await Task.Delay(500, Ct);

        // Kill the listener's backend, as a database failover or a network blip would.
        await using (var admin = database.CreateContext())
        {
            await admin.Database.ExecuteSqlRawAsync(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'outbox-notifications' AND query LIKE 'LISTEN%'", Ct);
        }

        await Task.Delay(1500, Ct); // the listener reconnects (backoff starts at 200 ms)
        using var publisher = BuildPublisher(database);
        await publisher.StartAsync(Ct);
        using (var scope = publisher.Services.CreateScope())
        {
            var context = scope.ServiceProvider.GetRequiredService<TestDbContext>();
            context.Publish(new OrderPlaced(Guid.NewGuid(), "after reconnect", 1));
            await context.SaveChangesAsync(Ct);
        }

        var deadline = DateTime.UtcNow.AddSeconds(30); // polling is 5 minutes: only a notification explains a delivery by then
        while (transport.AcceptedCount == 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10, Ct);
        }

        Assert.Equal(1, transport.AcceptedCount);
        await publisher.StopAsync(Ct);
        await dispatcher.StopAsync(Ct);
    }

    private static IHost BuildPublisher(TestDatabase database)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddDbContext<TestDbContext>((sp, options) =>
        {
            database.Configure(options);
            options.UseOutbox(sp);
        });
        builder.Services.AddOutbox(o => o.Enabled = false).UsePostgreSql<TestDbContext>();
        return builder.Build();
    }
}
