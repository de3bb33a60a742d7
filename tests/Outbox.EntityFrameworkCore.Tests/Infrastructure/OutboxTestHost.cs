using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Outbox.EntityFrameworkCore.Tests.Infrastructure;

/// <summary>Builds a real host the way a user wires the outbox: AddDbContext + AddOutbox + a store + a transport.</summary>
public static class OutboxTestHost
{
    public static IHost Build(
        TestDatabase database,
        IMessageTransport transport,
        Action<OutboxDispatcherOptions>? configure = null,
        bool notifications = true,
        Action<IServiceCollection>? services = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddDbContext<TestDbContext>((sp, options) =>
        {
            database.Configure(options);
            options.UseOutbox(sp);
        });
        var outbox = builder.Services.AddOutbox(o =>
        {
            o.PollingInterval = TimeSpan.FromMilliseconds(50);
            o.RetryBaseDelay = TimeSpan.FromMilliseconds(50);
            o.RetryMaxDelay = TimeSpan.FromMilliseconds(200);
            o.ShutdownTimeout = TimeSpan.FromSeconds(2);
            configure?.Invoke(o);
        });
        database.UseStore(outbox, notifications);
        builder.Services.AddSingleton(transport);
        services?.Invoke(builder.Services);
        return builder.Build();
    }

    public static async Task<IHost> StartAsync(TestDatabase database, IMessageTransport transport, Action<OutboxDispatcherOptions>? configure = null, bool notifications = true)
    {
        var host = Build(database, transport, configure, notifications);
        await host.StartAsync(TestContext.Current.CancellationToken);
        return host;
    }
}
