using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Outbox.Kafka.Tests.Registration;

/// <summary>One Kafka transport serves every outbox of the host: its flush on dispose waits as long as the longest-waiting one.</summary>
public sealed class KafkaTransportRegistrationTests
{
    [Fact]
    public void UseKafka_TwoOutboxes_FlushesForTheLongestShutdownTimeout()
    {
        var services = Services();
        services.AddOutbox(o =>
        {
            o.Enabled = false; // no store needed: only the transport is looked at
            o.ShutdownTimeout = TimeSpan.FromSeconds(5);
        }).UseKafka(k => k.BootstrapServers = "127.0.0.1:1");
        services.AddOutbox("billing", o =>
        {
            o.Enabled = false; // no store needed: only the transport is looked at
            o.ShutdownTimeout = TimeSpan.FromSeconds(40);
        }).UseKafka(k => k.BootstrapServers = "127.0.0.1:1");
        using var provider = services.BuildServiceProvider();

        // Built, not started: the producer connects on the first send, so nothing reaches the (closed) port.
        var transport = provider.GetRequiredService<KafkaTransport>();

        Assert.Equal(TimeSpan.FromSeconds(40), transport.FlushTimeout);
    }

    [Fact]
    public void UseKafka_OneOutbox_FlushesForItsShutdownTimeout()
    {
        var services = Services();
        services.AddOutbox(o =>
        {
            o.Enabled = false; // no store needed: only the transport is looked at
            o.ShutdownTimeout = TimeSpan.FromSeconds(7);
        }).UseKafka(k => k.BootstrapServers = "127.0.0.1:1");
        using var provider = services.BuildServiceProvider();

        Assert.Equal(TimeSpan.FromSeconds(7), provider.GetRequiredService<KafkaTransport>().FlushTimeout);
    }

    private static IServiceCollection Services() =>
        new ServiceCollection()
            .AddLogging(l => l.SetMinimumLevel(LogLevel.Warning))
            .AddSingleton<IConfiguration>(new ConfigurationBuilder().Build());
}
