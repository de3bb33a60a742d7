using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Outbox.Http.Tests.Transport;

/// <summary>Registration: validated at start-up, harmless twice, the transport replaces any other.</summary>
public sealed class HttpRegistrationTests
{
    [Fact]
    public void UseHttp_NoDestination_FailsAtStartWithTheKeyToSet()
    {
        var services = Services();
        services.AddOutbox().UseHttp();
        using var provider = services.BuildServiceProvider();

        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<HttpTransportOptions>>().Value);
        Assert.Contains("Outbox:Http:Destinations:{destination}", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void UseHttp_Twice_RegistersOneTransportAndOneClient()
    {
        var services = Services();
        services.AddOutbox().UseInMemoryTransport().UseHttp(o => o.BaseAddress = new Uri("http://hub/")).UseHttp();
        using var provider = services.BuildServiceProvider();

        Assert.IsType<HttpTransport>(provider.GetRequiredService<IMessageTransport>());
        Assert.Single(services, d => d.ServiceType == typeof(HttpTransport));
        Assert.Equal(2, services.Count(d => d.ServiceType == typeof(IValidateOptions<HttpTransportOptions>))); // data annotations + ours
        Assert.Equal(new Uri("http://hub/"), provider.GetRequiredService<IOptions<HttpTransportOptions>>().Value.BaseAddress);
    }

    [Fact]
    public void UseHttp_FromConfigurationAndCode_CodeWins()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Outbox:Http:Destinations:orders"] = "http://payments:8080/inbox/payments",
            ["Outbox:Http:MaxMessageSize"] = "1024",
            ["Outbox:Http:Inbox:payments:MaxRequestBodySize"] = "2048",
            ["Outbox:Http:Inbox:payments:RetryAfter"] = "00:00:09",
            ["Outbox:Http:Inbox:payments:SigningKeys:2026-12"] = Infrastructure.Apps.Secret,
            ["Outbox:Http:SigningKeys:orders:KeyId"] = "2026-12",
            ["Outbox:Http:SigningKeys:orders:Secret"] = Infrastructure.Apps.Secret,
        });
        builder.Services.AddOutbox().UseHttp().UseHttp(o => o.Destinations["refunds"] = new Uri("http://refunds/"));
        builder.Services.AddOutboxConsumer<Infrastructure.ReceiverDb>("payments").UseHttp(o => o.RetryAfter = TimeSpan.FromSeconds(3));
        using var host = builder.Build();

        var sending = host.Services.GetRequiredService<IOptions<HttpTransportOptions>>().Value;
        Assert.Equal(new Uri("http://payments:8080/inbox/payments"), sending.Destinations["orders"]);
        Assert.Equal(1024, sending.MaxMessageSize);
        Assert.Equal(new Uri("http://refunds/"), sending.Destinations["refunds"]);
        var receiving = host.Services.GetRequiredService<IOptionsMonitor<HttpInboxOptions>>().Get("payments");
        Assert.Equal(2048, receiving.MaxRequestBodySize);
        Assert.Equal(TimeSpan.FromSeconds(3), receiving.RetryAfter); // code wins over configuration
        Assert.Equal(Infrastructure.Apps.Secret, receiving.SigningKeys["2026-12"]);
        Assert.Equal("2026-12", sending.SigningKeys["orders"].KeyId);
        Assert.Equal(Infrastructure.Apps.Secret, sending.SigningKeys["orders"].Secret);
    }

    [Fact]
    public void UseHttp_OnConsumer_OutOfRangeLimit_FailsValidation()
    {
        var services = Services();
        services.AddOutboxConsumer<Infrastructure.ReceiverDb>("payments").UseHttp(o => o.MaxRequestBodySize = 0);
        using var provider = services.BuildServiceProvider();

        Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptionsMonitor<HttpInboxOptions>>().Get("payments"));
    }

    /// <summary>A service collection with an (empty) configuration, as a host provides.</summary>
    private static ServiceCollection Services()
    {
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().Build());
        return services;
    }
}
