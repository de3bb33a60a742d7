using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Outbox.Tests.Dispatcher;

namespace Outbox.Tests.Health;

public sealed class OutboxHealthCheckTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 12, 0, 0, TimeSpan.Zero));

    // ---- outbox-backlog -----------------------------------------------------------------------------------------

    [Theory]
    [InlineData(30, HealthStatus.Healthy)]
    [InlineData(61, HealthStatus.Degraded)]
    [InlineData(301, HealthStatus.Unhealthy)]
    public async Task Backlog_OldestPendingAge_MapsToStatusByThreshold(int ageSeconds, HealthStatus expected)
    {
        var monitor = new FakeMonitor(_time) { Pending = 12, OldestAge = TimeSpan.FromSeconds(ageSeconds) };
        await using var services = Build(monitor);

        var entry = await CheckAsync(services, OutboxHealthChecksBuilderExtensions.BacklogCheckName);

        Assert.Equal(expected, entry.Status);
        Assert.Equal(12L, entry.Data["pending"]);
        Assert.Equal((double)ageSeconds, entry.Data["oldest_pending_age_seconds"]);
    }

    [Fact]
    public async Task Backlog_RecentReading_IsReusedRatherThanQueriedPerProbe()
    {
        var monitor = new FakeMonitor(_time);
        await using var services = Build(monitor);

        await CheckAsync(services, OutboxHealthChecksBuilderExtensions.BacklogCheckName);
        _time.Advance(TimeSpan.FromSeconds(15)); // within twice the 10 s refresh interval
        await CheckAsync(services, OutboxHealthChecksBuilderExtensions.BacklogCheckName);
        await CheckAsync(services, OutboxHealthChecksBuilderExtensions.DeadLettersCheckName);
        Assert.Equal(1, monitor.Reads);

        _time.Advance(TimeSpan.FromSeconds(10)); // now 25 s old: stale
        await CheckAsync(services, OutboxHealthChecksBuilderExtensions.BacklogCheckName);
        Assert.Equal(2, monitor.Reads);
    }

    [Fact]
    public async Task Backlog_DatabaseUnreachable_IsUnhealthyWithTheError()
    {
        var monitor = new FakeMonitor(_time) { Failure = new InvalidOperationException("connection refused") };
        await using var services = Build(monitor);

        var entry = await CheckAsync(services, OutboxHealthChecksBuilderExtensions.BacklogCheckName);

        Assert.Equal(HealthStatus.Unhealthy, entry.Status);
        Assert.Equal("connection refused", entry.Exception?.Message);
    }

    [Fact]
    public async Task Backlog_NoStoreRegistered_IsUnhealthySayingWhatToCall()
    {
        await using var services = Build(monitor: null);

        var entry = await CheckAsync(services, OutboxHealthChecksBuilderExtensions.BacklogCheckName);

        Assert.Equal(HealthStatus.Unhealthy, entry.Status);
        Assert.Contains("UsePostgreSql", entry.Description, StringComparison.Ordinal);
    }

    // ---- outbox-dead-letters ------------------------------------------------------------------------------------

    [Fact]
    public async Task DeadLetters_CountThresholds_DegradedFromOneAndUnhealthyFromLimit()
    {
        var monitor = new FakeMonitor(_time);
        await using var services = Build(monitor, o => o.DeadLettersUnhealthy = 10);

        Assert.Equal(HealthStatus.Healthy, (await CheckAsync(services, OutboxHealthChecksBuilderExtensions.DeadLettersCheckName)).Status);

        monitor.DeadLetters = 3;
        _time.Advance(TimeSpan.FromMinutes(1));
        var some = await CheckAsync(services, OutboxHealthChecksBuilderExtensions.DeadLettersCheckName);
        Assert.Equal(HealthStatus.Degraded, some.Status);
        Assert.Equal(3L, some.Data["dead_letters"]);

        monitor.DeadLetters = 10;
        _time.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(HealthStatus.Unhealthy, (await CheckAsync(services, OutboxHealthChecksBuilderExtensions.DeadLettersCheckName)).Status);
    }

    [Fact]
    public async Task DeadLetters_Growing_IsDegradedForTheWindowEvenBelowTheCountThreshold()
    {
        var monitor = new FakeMonitor(_time) { DeadLetters = 50 };
        await using var services = Build(monitor, o =>
        {
            o.DeadLettersDegraded = 100;
            o.DeadLetterGrowthWindow = TimeSpan.FromMinutes(5);
        });

        Assert.Equal(HealthStatus.Healthy, (await CheckAsync(services, OutboxHealthChecksBuilderExtensions.DeadLettersCheckName)).Status);

        monitor.DeadLetters = 51;
        _time.Advance(TimeSpan.FromSeconds(30));
        var grew = await CheckAsync(services, OutboxHealthChecksBuilderExtensions.DeadLettersCheckName);
        Assert.Equal(HealthStatus.Degraded, grew.Status);
        Assert.Contains("Grew from 50", grew.Description, StringComparison.Ordinal);

        _time.Advance(TimeSpan.FromMinutes(2)); // same count, still inside the window
        Assert.Equal(HealthStatus.Degraded, (await CheckAsync(services, OutboxHealthChecksBuilderExtensions.DeadLettersCheckName)).Status);

        _time.Advance(TimeSpan.FromMinutes(4)); // window over, no new growth
        Assert.Equal(HealthStatus.Healthy, (await CheckAsync(services, OutboxHealthChecksBuilderExtensions.DeadLettersCheckName)).Status);
    }

    // ---- outbox-dispatcher --------------------------------------------------------------------------------------

    [Fact]
    public async Task Dispatcher_LoopsThatStopBeating_GoDegradedThenUnhealthy()
    {
        await using var services = Build(new FakeMonitor(_time));
        var heartbeat = services.GetRequiredService<OutboxDispatcherHeartbeat>();
        Guid[] loops = [Guid.NewGuid(), Guid.NewGuid()];

        // Just started, no beat yet: not yet a concern.
        Assert.Equal(HealthStatus.Healthy, (await CheckAsync(services, OutboxHealthChecksBuilderExtensions.DispatcherCheckName)).Status);

        _time.Advance(TimeSpan.FromSeconds(5));
        heartbeat.Beat(loops[0]);
        heartbeat.Beat(loops[1]);
        _time.Advance(TimeSpan.FromSeconds(50));
        heartbeat.Beat(loops[0]);
        var healthy = await CheckAsync(services, OutboxHealthChecksBuilderExtensions.DispatcherCheckName);
        Assert.Equal(HealthStatus.Healthy, healthy.Status);
        Assert.Equal(2, healthy.Data["loops_seen"]);

        _time.Advance(TimeSpan.FromSeconds(20)); // loop 1 silent for 70 s
        heartbeat.Beat(loops[0]);
        var degraded = await CheckAsync(services, OutboxHealthChecksBuilderExtensions.DispatcherCheckName);
        Assert.Equal(HealthStatus.Degraded, degraded.Status);
        Assert.Equal(70.0, degraded.Data["stalest_loop_silence_seconds"]);

        _time.Advance(TimeSpan.FromMinutes(5));
        Assert.Equal(HealthStatus.Unhealthy, (await CheckAsync(services, OutboxHealthChecksBuilderExtensions.DispatcherCheckName)).Status);
    }

    [Fact]
    public async Task Dispatcher_NeverBeatSinceStart_IsUnhealthyAfterTheLimit()
    {
        await using var services = Build(new FakeMonitor(_time));
        services.GetRequiredService<OutboxDispatcherHeartbeat>();
        _time.Advance(TimeSpan.FromMinutes(6));

        var entry = await CheckAsync(services, OutboxHealthChecksBuilderExtensions.DispatcherCheckName);

        Assert.Equal(HealthStatus.Unhealthy, entry.Status);
        Assert.Contains("0 of 2", entry.Description, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Dispatcher_DisabledInThisProcess_IsHealthy()
    {
        await using var services = Build(new FakeMonitor(_time), dispatcher: o => o.Enabled = false);
        _time.Advance(TimeSpan.FromHours(1));

        Assert.Equal(HealthStatus.Healthy, (await CheckAsync(services, OutboxHealthChecksBuilderExtensions.DispatcherCheckName)).Status);
    }

    // ---- Registration and options -------------------------------------------------------------------------------

    [Fact]
    public async Task AddOutboxHealthChecks_Twice_RegistersEachCheckOnce()
    {
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().Build());
        services.AddOutbox();
        services.AddHealthChecks().AddOutboxHealthChecks().AddOutboxHealthChecks(tags: ["ready"]);
        await using var provider = services.BuildServiceProvider();

        var names = provider.GetRequiredService<IOptions<HealthCheckServiceOptions>>().Value.Registrations.Select(r => r.Name).ToList();

        Assert.Equal(
            [OutboxHealthChecksBuilderExtensions.BacklogCheckName, OutboxHealthChecksBuilderExtensions.DeadLettersCheckName, OutboxHealthChecksBuilderExtensions.DispatcherCheckName],
            names);
    }

    [Fact]
    public async Task Options_DegradedAboveUnhealthyOrNotAbovePolling_FailNamingTheOptions()
    {
        await using var services = Build(new FakeMonitor(_time), o =>
        {
            o.PendingAgeDegraded = TimeSpan.FromMinutes(10);
            o.DispatcherDegradedAfter = TimeSpan.FromSeconds(1);
        });

        var error = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IOptions<OutboxHealthCheckOptions>>().Value);

        Assert.Contains("Outbox:HealthChecks:PendingAgeDegraded", error.Message, StringComparison.Ordinal);
        Assert.Contains("Outbox:HealthChecks:DispatcherDegradedAfter", error.Message, StringComparison.Ordinal);
        Assert.Contains("PollingInterval", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Options_OutOfRange_FailsNamingTheOption()
    {
        await using var services = Build(new FakeMonitor(_time), o => o.DeadLettersDegraded = -1);

        var error = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IOptions<OutboxHealthCheckOptions>>().Value);

        Assert.Contains("DeadLettersDegraded", error.Message, StringComparison.Ordinal);
    }

    // ---- Helpers ------------------------------------------------------------------------------------------------

    private ServiceProvider Build(FakeMonitor? monitor, Action<OutboxHealthCheckOptions>? configure = null, Action<OutboxDispatcherOptions>? dispatcher = null)
    {
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().Build());
        services.AddLogging();
        services.AddSingleton<TimeProvider>(_time);
        services.AddOutbox(o =>
        {
            o.Concurrency = 2;
            o.PollingInterval = TimeSpan.FromSeconds(1);
            dispatcher?.Invoke(o);
        }).UseInMemoryTransport();
        services.AddSingleton<IOutboxStore>(new FakeOutboxStore());
        if (monitor is not null)
        {
            services.AddSingleton<IOutboxMonitor>(monitor);
        }

        services.AddHealthChecks().AddOutboxHealthChecks(configure);
        return services.BuildServiceProvider();
    }

    private static async Task<HealthReportEntry> CheckAsync(IServiceProvider services, string name)
    {
        var report = await services.GetRequiredService<HealthCheckService>().CheckHealthAsync(r => r.Name == name, Ct);
        return report.Entries[name];
    }

    private sealed class FakeMonitor(TimeProvider time) : IOutboxMonitor
    {
        public long Pending { get; set; }

        public TimeSpan OldestAge { get; set; }

        public long DeadLetters { get; set; }

        public Exception? Failure { get; set; }

        public int Reads { get; private set; }

        public Task<OutboxBacklog> GetBacklogAsync(CancellationToken cancellationToken)
        {
            Reads++;
            if (Failure is not null)
            {
                throw Failure;
            }

            var now = time.GetUtcNow();
            return Task.FromResult(new OutboxBacklog(Pending, Pending > 0 ? now - OldestAge : null, DeadLetters, now));
        }
    }
}
