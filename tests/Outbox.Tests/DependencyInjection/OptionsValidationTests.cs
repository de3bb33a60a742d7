using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Outbox.Tests.Dispatcher;

namespace Outbox.Tests.DependencyInjection;

public sealed class OptionsValidationTests
{
    [Fact]
    public async Task Start_WithBatchSizeZeroFromConfiguration_FailsNamingTheOption()
    {
        using var host = Build(new Dictionary<string, string?> { ["Outbox:Dispatcher:BatchSize"] = "0" });
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(TestContext.Current.CancellationToken));
        Assert.Contains("BatchSize", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_WithMaxPayloadSizeZeroFromConfiguration_FailsNamingTheOption()
    {
        using var host = Build(new Dictionary<string, string?> { ["Outbox:Dispatcher:MaxPayloadSize"] = "0" });
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(TestContext.Current.CancellationToken));
        Assert.Contains("MaxPayloadSize", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_WithSendTimeoutLongerThanLease_FailsNamingBothOptions()
    {
        using var host = Build(new Dictionary<string, string?>
        {
            ["Outbox:Dispatcher:LeaseDuration"] = "00:00:05",
            ["Outbox:Dispatcher:SendTimeout"] = "00:00:10",
        });
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(TestContext.Current.CancellationToken));
        Assert.Contains("Outbox:Dispatcher:SendTimeout", error.Message, StringComparison.Ordinal);
        Assert.Contains("LeaseDuration", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_WithRetryBaseAboveMax_Fails()
    {
        using var host = Build(new Dictionary<string, string?>
        {
            ["Outbox:Dispatcher:RetryBaseDelay"] = "00:10:00",
            ["Outbox:Dispatcher:RetryMaxDelay"] = "00:01:00",
        });
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(TestContext.Current.CancellationToken));
        Assert.Contains("RetryBaseDelay", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_WithoutTransport_FailsSayingWhatToCall()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddOutbox();
        builder.Services.AddSingleton<IOutboxStore>(new FakeOutboxStore());
        using var host = builder.Build();
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(TestContext.Current.CancellationToken));
        Assert.Contains("No message transport is registered", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("No outbox store", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_WithoutStoreOrTransportButDispatcherDisabled_Succeeds()
    {
        using var host = Build(new Dictionary<string, string?> { ["Outbox:Dispatcher:Enabled"] = "false" }, registerStore: false);
        await host.StartAsync(TestContext.Current.CancellationToken);
        await host.StopAsync(TestContext.Current.CancellationToken);
        Assert.False(host.Services.GetRequiredService<IOptions<OutboxDispatcherOptions>>().Value.Enabled);
    }

    [Fact]
    public void AddOutbox_CalledTwice_RegistersOneDispatcher()
    {
        var once = new ServiceCollection();
        once.AddOutbox();
        var twice = new ServiceCollection();
        twice.AddOutbox();
        twice.AddOutbox();
        Assert.Equal(once.Count, twice.Count);
        Assert.Single(twice, d => d.IsKeyedService && d.ServiceType == typeof(OutboxDispatcher));
        Assert.Equal(once.Count(d => d.ServiceType == typeof(IHostedService)), twice.Count(d => d.ServiceType == typeof(IHostedService)));
    }

    [Fact]
    public void Defaults_AreValid()
    {
        using var host = Build([]);
        var options = host.Services.GetRequiredService<IOptions<OutboxDispatcherOptions>>().Value;
        Assert.Equal(200, options.BatchSize);
        Assert.Equal(TimeSpan.FromSeconds(30), options.LeaseDuration);
        Assert.Equal(10, options.MaxAttempts);
    }

    private static IHost Build(Dictionary<string, string?> settings, bool registerStore = true)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(settings);
        var outbox = builder.Services.AddOutbox();
        if (registerStore)
        {
            builder.Services.AddSingleton<IOutboxStore>(new FakeOutboxStore());
            outbox.UseInMemoryTransport();
        }

        return builder.Build();
    }
}
