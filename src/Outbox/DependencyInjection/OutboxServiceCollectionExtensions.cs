using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Outbox;
using Outbox.Testing;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the outbox dispatcher and its services.</summary>
public static class OutboxServiceCollectionExtensions
{
    /// <summary>
    /// Adds the outbox: dispatcher options bound from <c>Outbox:Dispatcher</c> and validated at start-up, the
    /// dispatcher background service, the default serializer and resilience pipeline. Choose a store
    /// (<c>UsePostgreSql</c>, <c>UseSqlite</c>) and a transport on the returned builder. Calling it twice is harmless.
    /// </summary>
    public static OutboxBuilder AddOutbox(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        if (services.Any(static d => d.ServiceType == typeof(OutboxMarker)))
        {
            // Already added: options binding and validators would otherwise be registered twice.
            return new OutboxBuilder(services);
        }

        services.AddSingleton<OutboxMarker>();
        services.AddOptions<OutboxDispatcherOptions>()
            .BindConfiguration(OutboxDispatcherOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.AddOptions<OutboxResilienceOptions>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<OutboxDispatcherOptions>, OutboxDispatcherOptionsValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<OutboxDispatcherOptions>, OutboxRegistrationValidator>());

        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<OutboxSignal>();
        services.TryAddSingleton<OutboxDispatcherHeartbeat>();
        services.TryAddSingleton<IMessageSerializer>(SystemTextJsonMessageSerializer.Default);
        services.TryAddSingleton<OutboxTransportPipeline>();
        services.TryAddSingleton<OutboxEndpointStates>();
        services.TryAddSingleton<OutboxDeliveryAwaiter>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, OutboxDispatcher>());
        services.TryAddSingleton<OutboxBacklogMonitor>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, OutboxBacklogMonitor>(static sp => sp.GetRequiredService<OutboxBacklogMonitor>()));
        return new OutboxBuilder(services);
    }

    /// <summary>Adds the outbox and configures the dispatcher options in code.</summary>
    public static OutboxBuilder AddOutbox(this IServiceCollection services, Action<OutboxDispatcherOptions> configure) =>
        services.AddOutbox().ConfigureDispatcher(configure);
}

/// <summary>Marks a service collection the outbox was added to.</summary>
internal sealed class OutboxMarker;
