using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Outbox;
using Outbox.Testing;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the outbox dispatcher and its services.</summary>
public static partial class OutboxServiceCollectionExtensions
{
    /// <summary>
    /// Adds the outbox: dispatcher options bound from <c>Outbox:Dispatcher</c> and validated at start-up, the
    /// dispatcher background service, the default serializer and resilience pipeline. Choose a store
    /// (<c>UsePostgreSql</c>, <c>UseSqlite</c>) and a transport on the returned builder. Calling it twice is harmless.
    /// This is the outbox named <c>default</c>; add more with <see cref="AddOutbox(IServiceCollection, string)"/>.
    /// </summary>
    public static OutboxBuilder AddOutbox(this IServiceCollection services) => services.AddOutbox(OutboxInstance.DefaultName);

    /// <summary>Adds the outbox and configures the dispatcher options in code.</summary>
    public static OutboxBuilder AddOutbox(this IServiceCollection services, Action<OutboxDispatcherOptions> configure) =>
        services.AddOutbox().ConfigureDispatcher(configure);

    /// <summary>
    /// Adds the outbox named <paramref name="name"/>, with its own store, transports, options and dispatcher loops:
    /// one per DbContext of a modular monolith, for example. Its dispatcher options bind from
    /// <c>Outbox:Outboxes:{name}:Dispatcher</c> and are validated at start-up; its services are keyed singletons under
    /// <paramref name="name"/>; its metrics, logs and spans carry <c>outbox.name</c>. The name <c>default</c> is the
    /// outbox of <see cref="AddOutbox(IServiceCollection)"/>. Calling it twice with one name returns a builder over
    /// the same outbox.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="name"/> is not 1 to 64 letters, digits, '.', '-' or '_'.</exception>
    public static OutboxBuilder AddOutbox(this IServiceCollection services, string name)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(name);
        if (!NamePattern().IsMatch(name))
        {
            throw new ArgumentException(
                $"The outbox name '{name}' is not valid: use 1 to 64 letters, digits, '.', '-' or '_', starting with a letter or digit.",
                nameof(name));
        }

        AddShared(services);
        return new OutboxBuilder(services, OutboxInstance.Find(services, name) ?? AddInstance(services, name));
    }

    /// <summary>Adds the outbox named <paramref name="name"/> and configures its dispatcher options in code.</summary>
    public static OutboxBuilder AddOutbox(this IServiceCollection services, string name, Action<OutboxDispatcherOptions> configure) =>
        services.AddOutbox(name).ConfigureDispatcher(configure);

    private static void AddShared(IServiceCollection services)
    {
        if (services.Any(static d => d.ServiceType == typeof(OutboxMarker)))
        {
            return;
        }

        services.AddSingleton<OutboxMarker>();
        services.AddOptions<OutboxResilienceOptions>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<OutboxDispatcherOptions>, OutboxDispatcherOptionsValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<OutboxDispatcherOptions>, OutboxRegistrationValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<IMessageSerializer>(SystemTextJsonMessageSerializer.Default);
        services.TryAddSingleton(static sp => new OutboxDeliveryAwaiter(sp, sp.GetServices<OutboxInstance>()));
    }

    private static OutboxInstance AddInstance(IServiceCollection services, string name)
    {
        var outbox = new OutboxInstance(name);
        services.AddSingleton(outbox);
        services.AddKeyedSingleton(name, outbox);
        services.AddOptions<OutboxDispatcherOptions>(outbox.OptionsName)
            .BindConfiguration(outbox.DispatcherSection)
            .ValidateOnStart(); // data annotations are checked by OutboxDispatcherOptionsValidator, which names the key
        services.AddKeyedSingleton(name, static (_, _) => new OutboxSignal());
        services.AddKeyedSingleton(name, static (sp, _) => new OutboxDispatcherHeartbeat(sp.GetRequiredService<TimeProvider>()));
        services.AddKeyedSingleton(name, (sp, _) => new OutboxTransportPipeline(
            Options.Options.Create(sp.GetRequiredService<IOptionsMonitor<OutboxResilienceOptions>>().Get(outbox.OptionsName)),
            Options.Options.Create(outbox.DispatcherOptions(sp)),
            sp.GetRequiredService<TimeProvider>()));
        services.AddKeyedSingleton(name, static (sp, _) => new OutboxEndpointStates(sp.GetRequiredService<TimeProvider>()));
        services.AddKeyedSingleton(name, (sp, _) => new OutboxDispatcher(sp, outbox, sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<OutboxDispatcher>>()));
        services.AddKeyedSingleton(name, (sp, _) => new OutboxTenantDispatcher(sp, outbox));
        services.AddSingleton<IHostedService>(sp => outbox.PerTenant
            ? sp.GetRequiredKeyedService<OutboxTenantDispatcher>(name)
            : sp.GetRequiredKeyedService<OutboxDispatcher>(name));
        services.AddKeyedSingleton(name, (sp, _) => new OutboxBacklogMonitor(sp, outbox));
        services.AddSingleton<IHostedService>(sp => sp.GetRequiredKeyedService<OutboxBacklogMonitor>(name));
        if (outbox.IsDefault)
        {
            // The one-outbox form resolves its services without a key, as before several outboxes existed.
            services.TryAddSingleton(static sp => sp.GetRequiredKeyedService<OutboxSignal>(OutboxInstance.DefaultName));
            services.TryAddSingleton(static sp => sp.GetRequiredKeyedService<OutboxDispatcherHeartbeat>(OutboxInstance.DefaultName));
            services.TryAddSingleton(static sp => sp.GetRequiredKeyedService<OutboxTransportPipeline>(OutboxInstance.DefaultName));
            services.TryAddSingleton(static sp => sp.GetRequiredKeyedService<OutboxEndpointStates>(OutboxInstance.DefaultName));
            services.TryAddSingleton(static sp => sp.GetRequiredKeyedService<OutboxBacklogMonitor>(OutboxInstance.DefaultName));
        }

        return outbox;
    }

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", RegexOptions.CultureInvariant)]
    private static partial Regex NamePattern();
}

/// <summary>Marks a service collection the outbox was added to.</summary>
internal sealed class OutboxMarker;
