using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Outbox.Testing;
using Outbox.Tests.Dispatcher;
using Outbox.Tests.Routing;

namespace Outbox.Tests.DependencyInjection;

public sealed class MultipleOutboxesTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task AddOutbox_TwoNamedOutboxes_EachDispatchesItsOwnStoreThroughItsOwnTransport()
    {
        var orders = new FakeOutboxStore();
        var billing = new FakeOutboxStore();
        for (var i = 0; i < 20; i++)
        {
            orders.Add(destination: "orders");
            billing.Add(destination: "billing");
        }

        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddOutbox("orders", Fast).UseTransport<BrokerTransport>();
        builder.Services.AddOutbox("billing", Fast).UseTransport<HttpLikeTransport>();
        builder.Services.AddKeyedSingleton<IOutboxStore>("orders", orders);
        builder.Services.AddKeyedSingleton<IOutboxStore>("billing", billing);
        using var host = builder.Build();
        await host.StartAsync(Ct);
        await host.Services.WaitForOutboxDeliveryAsync(TimeSpan.FromSeconds(60), Ct);
        await host.StopAsync(Ct);

        Assert.Equal(20, orders.Acknowledged.Count);
        Assert.Equal(20, billing.Acknowledged.Count);
        Assert.All(host.Services.GetRequiredService<BrokerTransport>().Sent, m => Assert.Equal("orders", m.Destination));
        Assert.All(host.Services.GetRequiredService<HttpLikeTransport>().Sent, m => Assert.Equal("billing", m.Destination));
        Assert.NotSame(
            host.Services.GetRequiredKeyedService<OutboxSignal>("orders"), host.Services.GetRequiredKeyedService<OutboxSignal>("billing"));
    }

    [Fact]
    public async Task Dispatch_NamedOutbox_MetricsCarryTheOutboxName()
    {
        var store = new FakeOutboxStore();
        store.Add(destination: "billing");
        var names = new System.Collections.Concurrent.ConcurrentQueue<string?>();
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == OutboxTelemetry.MeterName && instrument.Name == "outbox.messages.dispatched")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, _, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "outbox.name")
                {
                    names.Enqueue(tag.Value as string);
                }
            }
        });
        listener.Start();
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddOutbox("metrics-probe", Fast).UseTransport<HttpLikeTransport>(); // a name no other test uses
        builder.Services.AddKeyedSingleton<IOutboxStore>("metrics-probe", store);
        using var host = builder.Build();
        await host.StartAsync(Ct);
        await OutboxRoutingTests.WaitUntilAsync(() => store.Acknowledged.Count == 1);
        await host.StopAsync(Ct);

        Assert.Contains("metrics-probe", names);
    }

    [Fact]
    public void AddOutbox_NamedOutboxFromConfiguration_BindsItsOwnSectionAndLeavesTheDefaultAlone()
    {
        using var host = Build(new Dictionary<string, string?>
        {
            ["Outbox:Dispatcher:Concurrency"] = "3",
            ["Outbox:Outboxes:billing:Dispatcher:Concurrency"] = "5",
            ["Outbox:Outboxes:billing:Dispatcher:BatchSize"] = "17",
        });

        var options = host.Services.GetRequiredService<IOptionsMonitor<OutboxDispatcherOptions>>();
        Assert.Equal(3, options.CurrentValue.Concurrency);
        Assert.Equal(5, options.Get("billing").Concurrency);
        Assert.Equal(17, options.Get("billing").BatchSize);
        Assert.Equal(200, options.CurrentValue.BatchSize);
    }

    [Fact]
    public async Task Start_NamedOutboxWithBatchSizeZero_FailsNamingItsConfigurationKey()
    {
        using var host = Build(new Dictionary<string, string?> { ["Outbox:Outboxes:billing:Dispatcher:BatchSize"] = "0" });

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(Ct));

        Assert.Contains("Outbox:Outboxes:billing:Dispatcher:BatchSize", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_NamedOutboxWithoutStore_FailsNamingTheOutboxAndItsEnabledKey()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddOutbox("billing").UseInMemoryTransport();
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(Ct));

        Assert.Contains("outbox 'billing'", error.Message, StringComparison.Ordinal);
        Assert.Contains("Outbox:Outboxes:billing:Dispatcher:Enabled", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AddOutbox_SameNameTwice_RegistersOneDispatcher()
    {
        var services = new ServiceCollection();
        services.AddOutbox("billing").UseInMemoryTransport();
        services.AddOutbox("billing").UseInMemoryTransport();

        Assert.Single(services, d => !d.IsKeyedService && d.ServiceType == typeof(OutboxInstance));
        Assert.Single(services, d => d.IsKeyedService && d.ServiceType == typeof(OutboxDispatcher));
        Assert.Single(services, d => d.IsKeyedService && d.ServiceType == typeof(IMessageTransport));
    }

    [Fact]
    public void AddOutbox_InvalidName_ThrowsNamingTheRule()
    {
        var error = Assert.Throws<ArgumentException>(() => new ServiceCollection().AddOutbox("bad name"));

        Assert.Contains("'bad name'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AddOutboxHealthChecks_TwoOutboxes_ChecksPerOutboxWithTheNameInTheCheckName()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddHealthChecks().AddOutboxHealthChecks();
        builder.Services.AddOutbox().UseInMemoryTransport();
        builder.Services.AddOutbox("billing").UseInMemoryTransport();
        builder.Services.AddSingleton<IOutboxStore>(new FakeOutboxStore());
        builder.Services.AddKeyedSingleton<IOutboxStore>("billing", new FakeOutboxStore());
        using var host = builder.Build();

        var report = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync(Ct);

        Assert.Contains("outbox-dispatcher", report.Entries.Keys);
        Assert.Contains("outbox-dispatcher:billing", report.Entries.Keys);
        Assert.Contains("outbox-backlog:billing", report.Entries.Keys);
        Assert.Contains("outbox-dead-letters:billing", report.Entries.Keys);
        Assert.Equal(6, report.Entries.Count);
    }

    private static void Fast(OutboxDispatcherOptions o)
    {
        o.PollingInterval = TimeSpan.FromMilliseconds(20);
        o.Concurrency = 1;
    }

    private static IHost Build(Dictionary<string, string?> settings)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Services.AddOutbox().UseInMemoryTransport();
        builder.Services.AddOutbox("billing").UseInMemoryTransport();
        builder.Services.AddSingleton<IOutboxStore>(new FakeOutboxStore());
        builder.Services.AddKeyedSingleton<IOutboxStore>("billing", new FakeOutboxStore());
        return builder.Build();
    }
}
