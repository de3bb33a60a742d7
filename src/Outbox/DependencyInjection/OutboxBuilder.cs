using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Outbox;
using Outbox.Transport.InMemory;
using Polly;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// Returned by <see cref="OutboxServiceCollectionExtensions.AddOutbox(IServiceCollection)"/> and
/// <see cref="OutboxServiceCollectionExtensions.AddOutbox(IServiceCollection, string)"/>: chooses the store, the
/// transports, the serializer and the resilience pipeline of one outbox. Every method returns the same builder.
/// </summary>
public sealed class OutboxBuilder
{
    private readonly OutboxInstance _outbox;

    internal OutboxBuilder(IServiceCollection services, OutboxInstance outbox)
    {
        Services = services;
        _outbox = outbox;
    }

    /// <summary>The service collection the outbox registers into.</summary>
    public IServiceCollection Services { get; }

    /// <summary>
    /// The outbox name: the key of its keyed services and the <c>outbox.name</c> of its telemetry.
    /// </summary>
    /// <value><c>default</c> for the outbox of <c>AddOutbox()</c>.</value>
    public string Name => _outbox.Name;

    internal OutboxInstance Outbox => _outbox;

    /// <summary>
    /// Configures the dispatcher options (applied after the <c>Outbox:Dispatcher</c> configuration section, or
    /// <c>Outbox:Outboxes:{name}:Dispatcher</c> for a named outbox).
    /// </summary>
    public OutboxBuilder ConfigureDispatcher(Action<OutboxDispatcherOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        Services.Configure(_outbox.OptionsName, configure);
        return this;
    }

    /// <summary>
    /// Uses <typeparamref name="TTransport"/> (a singleton, shared by the outboxes that use it) to send this outbox's
    /// messages: it replaces the default transport chosen before, unless <see cref="ForDestinations(Func{string, bool})"/>
    /// follows and makes it a route for some destinations only.
    /// </summary>
    public OutboxBuilder UseTransport<TTransport>()
        where TTransport : class, IMessageTransport
    {
        Services.TryAddSingleton<TTransport>();
        _outbox.Routes.Use(typeof(TTransport));
        RegisterTransport();
        return this;
    }

    /// <summary>
    /// Sends the destinations <paramref name="accepts"/> accepts through the transport chosen just before (for example
    /// <c>.UseRabbitMq(...).UseHttp(...).ForDestinations(d =&gt; d.StartsWith("billing."))</c>); the transport chosen
    /// before that stays the default for the others. Routes are tried in the order they were added. A destination no
    /// route accepts, in an outbox without a default transport, is dead-lettered at once with its name in the reason.
    /// </summary>
    /// <exception cref="InvalidOperationException">No transport was chosen just before.</exception>
    public OutboxBuilder ForDestinations(Func<string, bool> accepts)
    {
        ArgumentNullException.ThrowIfNull(accepts);
        _outbox.Routes.RouteLast(accepts, "predicate");
        return this;
    }

    /// <summary>
    /// Sends the destinations named in <paramref name="destinations"/> through the transport chosen just before; an
    /// entry ending in <c>*</c> is a prefix (<c>"billing.*"</c>).
    /// </summary>
    /// <exception cref="InvalidOperationException">No transport was chosen just before.</exception>
    public OutboxBuilder ForDestinations(params string[] destinations)
    {
        ArgumentNullException.ThrowIfNull(destinations);
        var exact = new HashSet<string>(destinations.Where(static d => !d.EndsWith('*')), StringComparer.Ordinal);
        var prefixes = destinations.Where(static d => d.EndsWith('*')).Select(static d => d[..^1]).ToArray();
        _outbox.Routes.RouteLast(
            d => exact.Contains(d) || Array.Exists(prefixes, p => d.StartsWith(p, StringComparison.Ordinal)),
            string.Join(", ", destinations.Select(static d => $"\"{d}\"")));
        return this;
    }

    /// <summary>
    /// Uses an <see cref="InMemoryTransport"/> (resolvable as itself, to inspect what was sent). For tests and samples.
    /// </summary>
    public OutboxBuilder UseInMemoryTransport() => UseTransport<InMemoryTransport>();

    /// <summary>
    /// Serializes payloads with <paramref name="serializer"/> instead of System.Text.Json. On the default outbox
    /// (<c>AddOutbox()</c>) it is the host's serializer: every outbox without one of its own, and the consumers, use it.
    /// On a named outbox (<c>AddOutbox("name")</c>) it is that outbox's alone: what its contexts publish.
    /// </summary>
    public OutboxBuilder UseSerializer(IMessageSerializer serializer)
    {
        ArgumentNullException.ThrowIfNull(serializer);
        if (_outbox.IsDefault)
        {
            Services.Replace(ServiceDescriptor.Singleton(serializer));
        }
        else
        {
            AddOutboxService(_ => serializer);
        }

        return this;
    }

    /// <summary>
    /// Replaces the resilience pipeline around this outbox's transport sends (each outbox has its own; one that calls
    /// nothing keeps the defaults). The builder given to <paramref name="configure"/> is empty; call
    /// <see cref="OutboxResilience.AddOutboxDefaults"/> on it to start from the defaults.
    /// </summary>
    public OutboxBuilder ConfigureResilience(Action<ResiliencePipelineBuilder, OutboxDispatcherOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        Services.Configure<OutboxResilienceOptions>(_outbox.OptionsName, o => o.Configure = configure);
        return this;
    }

    /// <summary>
    /// Keeps this outbox in a database per tenant, listed at run time by <typeparamref name="TSource"/> (a singleton):
    /// one dispatcher per tenant database, each with its own leases, backoff and wake-up, tenants added and removed
    /// while running (<see cref="OutboxTenantOptions.RefreshInterval"/>, <see cref="IOutboxTenants.RefreshAsync"/>), an
    /// unreachable tenant retried alone. Every message carries its tenant (<see cref="OutboxMessage.TenantId"/>, the
    /// <c>outbox-tenant</c> header); metrics, logs and traces carry <c>outbox.tenant</c>. The store's DbContext is the
    /// tenants' context: the model and table names come from it, the connection strings from the source (a context
    /// resolved without a tenant, at start-up, may have no connection string). Options bind from <c>Outbox:Tenants</c>
    /// (<c>Outbox:Outboxes:{name}:Tenants</c> for a named outbox). See docs/tenants.md.
    /// </summary>
    public OutboxBuilder UseDatabasePerTenant<TSource>(Action<OutboxTenantOptions>? configure = null)
        where TSource : class, IOutboxDatabaseSource
    {
        Services.TryAddSingleton<TSource>();
        AddOutboxService<IOutboxDatabaseSource>(static sp => sp.GetRequiredService<TSource>());
        return UseDatabasePerTenantCore(configure);
    }

    /// <summary>
    /// Keeps this outbox in a database per tenant listed by <paramref name="source"/>; see
    /// <see cref="UseDatabasePerTenant{TSource}(Action{OutboxTenantOptions})"/>.
    /// </summary>
    public OutboxBuilder UseDatabasePerTenant(IOutboxDatabaseSource source, Action<OutboxTenantOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        AddOutboxService(_ => source);
        return UseDatabasePerTenantCore(configure);
    }

    private OutboxBuilder UseDatabasePerTenantCore(Action<OutboxTenantOptions>? configure)
    {
        _outbox.PerTenant = true;
        var optionsName = _outbox.OptionsName;
        Services.AddOptions<OutboxTenantOptions>(optionsName).BindConfiguration(OutboxTenantOptions.SectionOf(optionsName)).ValidateOnStart();
        Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<OutboxTenantOptions>, OutboxTenantOptionsValidator>());
        if (configure is not null)
        {
            Services.Configure(optionsName, configure);
        }

        Services.TryAddScoped<OutboxTenantContext>();
        AddOutboxService<IOutboxTenants>(sp => sp.GetRequiredKeyedService<OutboxTenantDispatcher>(_outbox.Name));
        return this;
    }

    /// <summary>
    /// Registers this outbox's <typeparamref name="TService"/>, replacing the one registered before: without a key
    /// for the default outbox (as before several outboxes existed, so that an application's own unkeyed registration
    /// still counts), under the outbox name otherwise. See <see cref="OutboxInstance.Resolve{T}"/>. For store and
    /// transport packages.
    /// </summary>
    internal void AddOutboxService<TService>(Func<IServiceProvider, TService> factory)
        where TService : class
    {
        if (_outbox.IsDefault)
        {
            Services.Replace(ServiceDescriptor.Singleton(factory));
            return;
        }

        var name = _outbox.Name;
        var existing = Services.FirstOrDefault(d => d.IsKeyedService && d.ServiceType == typeof(TService) && Equals(d.ServiceKey, name));
        if (existing is not null)
        {
            Services.Remove(existing);
        }

        Services.AddKeyedSingleton(name, (sp, _) => factory(sp));
    }

    private void RegisterTransport()
    {
        var outbox = _outbox;
        AddOutboxService(sp => outbox.Routes.Build(sp, outbox.Name));
    }
}
