using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Outbox.EntityFrameworkCore.Tests.Infrastructure;
using Outbox.Testing;
using Outbox.Transport.InMemory;

namespace Outbox.EntityFrameworkCore.Tests.PostgreSql;

/// <summary>
/// LISTEN/NOTIFY: a publish committed by one process wakes the dispatcher of another. The tests follow events, not the
/// clock: the listener's own probe coming back (1105, after each LISTEN) says it listens, and each notification it
/// receives from a commit elsewhere is logged (1108); the dispatcher also polls, so a delivery alone proves nothing.
/// </summary>
public sealed class PostgreSqlWakeUpTests(PostgreSqlFixture fixture) : IClassFixture<PostgreSqlFixture>
{
    private const int ProbeReceived = 1105;
    private const int NotificationReceived = 1108;
    private const int NotificationSent = 1109;

    // Only a bound against a hang: what is waited for is an event.
    private static readonly TimeSpan WakeWait = TimeSpan.FromSeconds(120);

    // The probe waits 10 s per attempt (up to 5 when it cannot be sent); the rest is room for a loaded machine.
    private static readonly TimeSpan ProbeWait = TimeSpan.FromSeconds(180);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Notify_PublishCommittedByAnotherProcess_WakesTheIdleDispatcher()
    {
        await using var database = await fixture.CreateDatabaseAsync();
        var transport = new InMemoryTransport();

        // The dispatcher process.
        var logs = new LogCapture();
        using var dispatcher = await StartDispatcherAsync(database, transport, logs);
        await logs.WaitForCountAsync(ProbeReceived, 1, ProbeWait, Ct); // listening, and notifications arrive
        await dispatcher.Services.WaitForOutboxDeliveryAsync(TimeSpan.FromSeconds(30), Ct);

        // The publishing process: no dispatcher of its own, its own connections, its own signal.
        var publisherLogs = new LogCapture();
        using var publisher = BuildPublisher(database, publisherLogs);
        await publisher.StartAsync(Ct);
        await PublishAsync(publisher, "cross-process");

        await WaitForAcceptedAsync(transport, 1, logs, publisherLogs);
        await publisher.StopAsync(Ct);
        await dispatcher.StopAsync(Ct);
    }

    [Fact]
    public async Task Notify_ListenerConnectionKilled_ReconnectsAndStillWakes()
    {
        await using var database = (PostgreSqlTestDatabase)await fixture.CreateDatabaseAsync();
        var transport = new InMemoryTransport();
        var logs = new LogCapture();
        using var dispatcher = await StartDispatcherAsync(database, transport, logs);
        await logs.WaitForCountAsync(ProbeReceived, 1, ProbeWait, Ct);

        // Kill the listener's backend, as a database failover or a network blip would.
        await using (var admin = database.CreateContext())
        {
            await admin.Database.ExecuteSqlRawAsync(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'outbox-notifications' AND query LIKE 'LISTEN%'", Ct);
        }

        await logs.WaitForCountAsync(ProbeReceived, 2, ProbeWait, Ct); // the listener reconnected and listens again
        var publisherLogs = new LogCapture();
        using var publisher = BuildPublisher(database, publisherLogs);
        await publisher.StartAsync(Ct);
        await PublishAsync(publisher, "after reconnect");

        await WaitForAcceptedAsync(transport, 1, logs, publisherLogs);
        await publisher.StopAsync(Ct);
        await dispatcher.StopAsync(Ct);
    }

    [Fact]
    public async Task Notify_SendConnectionKilled_TheNextCommitIsStillAnnounced()
    {
        await using var database = await fixture.CreateDatabaseAsync();
        var transport = new InMemoryTransport();
        var logs = new LogCapture();
        using var dispatcher = await StartDispatcherAsync(database, transport, logs);
        await logs.WaitForCountAsync(ProbeReceived, 1, ProbeWait, Ct);

        // A first publish opens the publisher's NOTIFY connection, which it keeps.
        var publisherLogs = new LogCapture();
        using var publisher = BuildPublisher(database, publisherLogs);
        await publisher.StartAsync(Ct);
        await PublishAsync(publisher, "first");
        await WaitForAcceptedAsync(transport, 1, logs, publisherLogs);

        // That connection dies (a failover, a pooler or firewall cutting idle connections): the next NOTIFY fails on it.
        await using (var admin = database.CreateContext())
        {
            await admin.Database.ExecuteSqlRawAsync(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'outbox-notifications' AND query LIKE '%pg_notify%'", Ct);
        }

        // The commit is announced anyway, on a new connection, rather than left to the polling (before the fix the
        // failed NOTIFY was dropped and only the next commit was announced).
        await PublishAsync(publisher, "second");
        await WaitForAcceptedAsync(transport, 2, logs, publisherLogs);
        await publisher.StopAsync(Ct);
        await dispatcher.StopAsync(Ct);
    }

    [Fact]
    public async Task Notify_CommitInTheDispatchersOwnProcess_WakesItInProcessAndItsEchoIsIgnored()
    {
        await using var database = await fixture.CreateDatabaseAsync();
        var transport = new InMemoryTransport();
        var logs = new LogCapture();
        using var dispatcher = await StartDispatcherAsync(database, transport, logs);
        await logs.WaitForCountAsync(ProbeReceived, 1, ProbeWait, Ct);

        // A commit in the dispatcher's own process: the signal wakes its loops (polling is every 5 minutes), and the
        // NOTIFY that announces it to other processes is sent.
        await PublishAsync(dispatcher, "own");
        await logs.WaitForCountAsync(NotificationSent, 1, WakeWait, Ct);
        await WaitForDeliveredAsync(transport, 1);

        // A commit elsewhere, after the first NOTIFY committed: the server delivers notifications in commit order, so by
        // the time this one wakes the dispatcher the echo of the first has come back too, and was not taken for work.
        var publisherLogs = new LogCapture();
        using var publisher = BuildPublisher(database, publisherLogs);
        await publisher.StartAsync(Ct);
        await PublishAsync(publisher, "elsewhere");
        await WaitForAcceptedAsync(transport, 2, logs, publisherLogs, notifications: 1);
        Assert.Equal(1, logs.Count(NotificationReceived));
        await publisher.StopAsync(Ct);
        await dispatcher.StopAsync(Ct);
    }

    private static async Task<IHost> StartDispatcherAsync(TestDatabase database, InMemoryTransport transport, LogCapture logs)
    {
        var host = OutboxTestHost.Build(
            database,
            transport,
            o => o.PollingInterval = TimeSpan.FromMinutes(5),
            services: s => s.AddLogging(l => l.AddProvider(logs).AddFilter<LogCapture>("Outbox", LogLevel.Debug)));
        await host.StartAsync(Ct);
        return host;
    }

    private static async Task PublishAsync(IHost publisher, string text)
    {
        using var scope = publisher.Services.CreateScope();
        var context = scope.ServiceProvider.GetRequiredService<TestDbContext>();
        context.Publish(new OrderPlaced(Guid.NewGuid(), text, 1));
        await context.SaveChangesAsync(Ct);
    }

    /// <summary>
    /// Waits for the listener to have received <paramref name="notifications"/> (default <paramref name="count"/>)
    /// notifications in all (event 1108, the proof that the commits were announced) and for <paramref name="count"/>
    /// messages to be delivered.
    /// </summary>
    private static async Task WaitForAcceptedAsync(InMemoryTransport transport, int count, LogCapture dispatcherLogs, LogCapture publisherLogs, int? notifications = null)
    {
        try
        {
            await dispatcherLogs.WaitForCountAsync(NotificationReceived, notifications ?? count, WakeWait, Ct);
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException($"{ex.Message}{Environment.NewLine}Publisher log:{Environment.NewLine}{publisherLogs.Describe()}", ex);
        }

        await WaitForDeliveredAsync(transport, count);
    }

    private static async Task WaitForDeliveredAsync(InMemoryTransport transport, int count)
    {
        var deadline = DateTime.UtcNow + WakeWait;
        while (transport.AcceptedCount < count && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10, Ct);
        }

        Assert.Equal(count, transport.AcceptedCount);
    }

    private static IHost BuildPublisher(TestDatabase database, LogCapture logs)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.SetMinimumLevel(LogLevel.Warning).AddProvider(logs);
        builder.Services.AddDbContext<TestDbContext>((sp, options) =>
        {
            database.Configure(options);
            options.UseOutbox(sp);
        });
        builder.Services.AddOutbox(o => o.Enabled = false).UsePostgreSql<TestDbContext>();
        return builder.Build();
    }
}
