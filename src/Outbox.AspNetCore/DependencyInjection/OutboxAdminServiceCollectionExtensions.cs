using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Outbox;
using Outbox.AspNetCore;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the services behind <c>MapOutboxAdmin</c>.</summary>
public static class OutboxAdminServiceCollectionExtensions
{
    /// <summary>
    /// Adds what the admin API and dashboard need: an in-process aggregation of the <c>Outbox</c> meter for the
    /// throughput and latency charts (started with the host), and options bound from <c>Outbox:Admin</c>, validated at
    /// start-up. The admin store itself comes with <c>UsePostgreSql</c> / <c>UseSqlite</c>. Calling it twice is harmless.
    /// Then map the endpoints with <c>app.MapOutboxAdmin(...)</c>.
    /// </summary>
    public static IServiceCollection AddOutboxAdmin(this IServiceCollection services, Action<OutboxAdminOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        if (configure is not null)
        {
            services.Configure(configure);
        }

        if (services.Any(static d => d.ServiceType == typeof(OutboxMetricsAggregator)))
        {
            return services;
        }

        services.AddOptions<OutboxAdminOptions>()
            .BindConfiguration(OutboxAdminOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<OutboxAdminOptions>, OutboxAdminOptionsValidator>());
        services.AddOptions<OutboxDispatcherOptions>();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<OutboxBacklogReaders>();
        services.TryAddSingleton(static sp => sp.GetRequiredService<OutboxBacklogReaders>().For(OutboxInstance.DefaultName));
        services.AddSingleton<OutboxMetricsAggregator>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, OutboxMetricsAggregator>(static sp => sp.GetRequiredService<OutboxMetricsAggregator>()));
        return services;
    }
}
