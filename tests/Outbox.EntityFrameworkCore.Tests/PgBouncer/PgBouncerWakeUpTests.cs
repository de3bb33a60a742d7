using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Outbox.EntityFrameworkCore.PostgreSql;
using Outbox.EntityFrameworkCore.Tests.Infrastructure;
using Outbox.EntityFrameworkCore.Tests.PostgreSql;
using Outbox.Testing;
using Outbox.Transport.InMemory;

namespace Outbox.EntityFrameworkCore.Tests.PgBouncer;

/// <summary>
/// LISTEN/NOTIFY behind PgBouncer in transaction mode: the pooler drops notifications, the listener says so, and with
/// <see cref="OutboxPostgreSqlOptions.ListenerConnectionString"/> pointing at the server directly wake-up works again.
/// </summary>
public sealed class PgBouncerWakeUpTests(PgBouncerFixture fixture) : IClassFixture<PgBouncerFixture>
{
    private const int ProbeLost = 1104;
    private const int ProbeReceived = 1105;
    private const int ProbeNotSent = 1106;
    private const int NotificationReceived = 1108;

    // The probe waits 10 s per attempt (up to 5 when it cannot be sent); the rest is room for a loaded machine.
    private static readonly TimeSpan ProbeWait = TimeSpan.FromSeconds(180);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Listener_ThroughTransactionPooler_WarnsNamingTheListenerConnectionString()
    {
        await using var database = await fixture.CreateDatabaseAsync();
        var logs = new LogCapture();
        using var dispatcher = OutboxTestHost.Build(database, new InMemoryTransport(), services: s => Capture(s, logs));
        await dispatcher.StartAsync(Ct);

        var (outcome, warning) = await logs.WaitForAnyAsync([ProbeLost, ProbeReceived, ProbeNotSent], ProbeWait, Ct);

        // Either warning names the fix: the probe came back empty (1104), or behind the pooler it could not even be sent
        // in its attempts (1106). What must not happen is the listener believing notifications arrive (1105).
        Assert.True(outcome is ProbeLost or ProbeNotSent, $"Expected a warning naming the fix ({ProbeLost} or {ProbeNotSent}), got event {outcome}. Log:{Environment.NewLine}{logs.Describe()}");
        Assert.Contains("pooler", warning, StringComparison.Ordinal);
        Assert.Contains(nameof(OutboxPostgreSqlOptions.ListenerConnectionString), warning, StringComparison.Ordinal);
        Assert.False(logs.Has(ProbeReceived));
        await dispatcher.StopAsync(Ct);
    }

    [Fact]
    public async Task Listener_WithDirectListenerConnectionString_ReceivesItsProbeAndWakesAcrossProcesses()
    {
        await using var database = (PostgreSqlTestDatabase)await fixture.CreateDatabaseAsync();
        Assert.NotEqual(database.ConnectionString, database.DirectConnectionString);
        var logs = new LogCapture();
        var transport = new InMemoryTransport();

        // The dispatcher process: everything through the pooler but its listener.
        using var dispatcher = OutboxTestHost.Build(
            database,
            transport,
            o => o.PollingInterval = TimeSpan.FromMinutes(5),
            services: s =>
            {
                Capture(s, logs);
                s.Configure<OutboxPostgreSqlOptions>(o => o.ListenerConnectionString = database.DirectConnectionString);
            });
        await dispatcher.StartAsync(Ct);
        var (outcome, _) = await logs.WaitForAnyAsync([ProbeReceived, ProbeLost, ProbeNotSent], ProbeWait, Ct);
        Assert.True(outcome == ProbeReceived, $"Expected the probe to come back ({ProbeReceived}), got event {outcome}. Log:{Environment.NewLine}{logs.Describe()}");
        await dispatcher.Services.WaitForOutboxDeliveryAsync(TimeSpan.FromSeconds(30), Ct);

        // The publishing process: no dispatcher, its own connections through the pooler, its NOTIFY through the pooler.
        var publisherLogs = new LogCapture();
        using var publisher = BuildPublisher(database, publisherLogs);
        await publisher.StartAsync(Ct);
        using (var scope = publisher.Services.CreateScope())
        {
            var context = scope.ServiceProvider.GetRequiredService<TestDbContext>();
            context.Publish(new OrderPlaced(Guid.NewGuid(), "through the pooler", 1));
            await context.SaveChangesAsync(Ct);
        }

        // The commit's NOTIFY, sent through the pooler, reaches the direct listener (event 1108; the dispatcher also
        // polls, so the delivery alone would prove nothing); the bound only guards against a hang.
        try
        {
            await logs.WaitForCountAsync(NotificationReceived, 1, TimeSpan.FromSeconds(120), Ct);
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException($"{ex.Message}{Environment.NewLine}Publisher log:{Environment.NewLine}{publisherLogs.Describe()}", ex);
        }

        await dispatcher.Services.WaitForOutboxDeliveryAsync(TimeSpan.FromSeconds(120), Ct);
        Assert.Equal(1, transport.AcceptedCount);
        Assert.False(logs.Has(ProbeLost));
        await publisher.StopAsync(Ct);
        await dispatcher.StopAsync(Ct);
    }

    private static void Capture(IServiceCollection services, LogCapture logs) =>
        services.AddLogging(l => l.AddProvider(logs).AddFilter<LogCapture>("Outbox", LogLevel.Debug));

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
