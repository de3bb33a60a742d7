using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Outbox;

/// <summary>
/// One outbox of the host: its name, the options name and configuration section of its dispatcher, and its transport
/// routes. Every per-outbox service (store, transport, pipelines, circuits, wake-up signal, heartbeat, backlog monitor,
/// dispatcher) is a keyed singleton under <see cref="Name"/>; the default outbox (<c>AddOutbox()</c>) is also
/// resolvable without a key, as it always was. A later per-tenant outbox reuses the same shape: one instance per
/// tenant, keyed by outbox name and tenant.
/// </summary>
internal sealed class OutboxInstance
{
    /// <summary>The name of the outbox <c>AddOutbox()</c> registers.</summary>
    public const string DefaultName = "default";

    /// <summary>The configuration section under which named outboxes bind (<c>Outbox:Outboxes:{name}</c>).</summary>
    public const string OutboxesSection = "Outbox:Outboxes";

    public OutboxInstance(string name)
    {
        Name = name;
        Tag = new KeyValuePair<string, object?>("outbox.name", name);
    }

    /// <summary>The outbox name: the service key of its services, the <c>outbox.name</c> of its metrics, logs and spans.</summary>
    public string Name { get; }

    /// <summary>Whether this is the outbox of <c>AddOutbox()</c>, configured at <c>Outbox:Dispatcher</c>.</summary>
    public bool IsDefault => Name == DefaultName;

    /// <summary>The name of its <see cref="OutboxDispatcherOptions"/> (the unnamed options for the default outbox).</summary>
    public string OptionsName => OptionsNameOf(Name);

    /// <summary>The configuration section of its dispatcher options.</summary>
    public string DispatcherSection => DispatcherSectionOf(OptionsName);

    /// <summary>The <c>outbox.name</c> tag of its metrics.</summary>
    public KeyValuePair<string, object?> Tag { get; }

    /// <summary>
    /// Whether its databases are listed at run time, one per tenant (<c>UseDatabasePerTenant</c>): then an
    /// <see cref="OutboxTenantDispatcher"/> runs a dispatcher per tenant database instead of one over the store.
    /// </summary>
    public bool PerTenant { get; set; }

    /// <summary>Its tenant dispatcher, when <see cref="PerTenant"/>.</summary>
    public OutboxTenantDispatcher? Tenants(IServiceProvider services) =>
        PerTenant ? services.GetRequiredKeyedService<OutboxTenantDispatcher>(Name) : null;

    /// <summary>Its transports: the default one and the routes by destination.</summary>
    public OutboxTransportRoutes Routes { get; } = new();

    /// <summary>The options name of outbox <paramref name="name"/>.</summary>
    public static string OptionsNameOf(string name) => name == DefaultName ? Options.DefaultName : name;

    /// <summary>The outbox whose dispatcher options are named <paramref name="optionsName"/>.</summary>
    public static string NameOf(string? optionsName) => string.IsNullOrEmpty(optionsName) ? DefaultName : optionsName;

    /// <summary>The configuration section of the dispatcher options named <paramref name="optionsName"/>.</summary>
    public static string DispatcherSectionOf(string? optionsName) =>
        string.IsNullOrEmpty(optionsName) ? OutboxDispatcherOptions.SectionName : $"{OutboxesSection}:{optionsName}:Dispatcher";

    /// <summary>The outbox named <paramref name="name"/> registered in <paramref name="services"/>, if any.</summary>
    public static OutboxInstance? Find(IServiceCollection services, string name) =>
        services
            .Where(static d => !d.IsKeyedService && d.ServiceType == typeof(OutboxInstance))
            .Select(static d => d.ImplementationInstance)
            .OfType<OutboxInstance>()
            .FirstOrDefault(o => o.Name == name);

    /// <summary>
    /// This outbox's <typeparamref name="T"/> registered by a store or transport package (see
    /// <c>OutboxBuilder.AddOutboxService</c>): the unkeyed service for the default outbox, the keyed one otherwise.
    /// </summary>
    public T? Resolve<T>(IServiceProvider services)
        where T : class =>
        IsDefault ? services.GetService<T>() : services.GetKeyedService<T>(Name);

    /// <summary>Whether this outbox has a <paramref name="serviceType"/> registered by a store or transport package.</summary>
    public bool Has(IServiceProvider services, Type serviceType) =>
        IsDefault
            ? services.GetRequiredService<IServiceProviderIsService>().IsService(serviceType)
            : services.GetRequiredService<IServiceProviderIsKeyedService>().IsKeyedService(serviceType, Name);

    /// <summary>The dispatcher options of this outbox.</summary>
    public OutboxDispatcherOptions DispatcherOptions(IServiceProvider services) =>
        services.GetRequiredService<IOptionsMonitor<OutboxDispatcherOptions>>().Get(OptionsName);
}
