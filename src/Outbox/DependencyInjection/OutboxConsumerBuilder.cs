using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Outbox;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// Configures one consumer: its handlers (by message type) and its retry policy. Returned by
/// <c>AddOutboxConsumer&lt;TContext&gt;(name)</c> (Outbox.EntityFrameworkCore); a transport package adds the source of
/// its messages (for example <c>UseRabbitMq(...)</c> in Outbox.RabbitMQ). Every method returns the same builder.
/// </summary>
public sealed partial class OutboxConsumerBuilder
{
    private readonly InboxHandlerRegistry _registry;

    private OutboxConsumerBuilder(IServiceCollection services, string name, InboxHandlerRegistry registry)
    {
        Services = services;
        Name = name;
        _registry = registry;
    }

    /// <summary>The consumer name: the first half of every inbox key, and the options name.</summary>
    public string Name { get; }

    /// <summary>The service collection the consumer registers into.</summary>
    public IServiceCollection Services { get; }

    /// <summary>
    /// Handles messages of type name <paramref name="messageType"/> with <typeparamref name="THandler"/>, resolved from
    /// a new scope per message (registered as scoped unless already registered).
    /// </summary>
    /// <param name="messageType">
    /// The logical type name to match (the <c>outbox-message-type</c> header). The default is
    /// <typeparamref name="TMessage"/>'s full name, which is what <c>Publish</c> writes by default.
    /// </param>
    /// <param name="enforceOrder">
    /// When <see langword="true"/>, keyed messages reach the handler strictly in their per-key sequence order: a message
    /// that arrives ahead of its predecessor is handed back to the transport (nothing written) until the predecessor
    /// has been processed, or until <see cref="InboxConsumerOptions.OrderGapTimeout"/> has passed, after which it is
    /// processed and the gap counted. The default, <see langword="false"/>, processes in arrival order and only counts
    /// gaps and reorders.
    /// </param>
    /// <exception cref="ArgumentException">The consumer already has a handler for that message type.</exception>
    public OutboxConsumerBuilder AddHandler<TMessage, THandler>(string? messageType = null, bool enforceOrder = false)
        where TMessage : notnull
        where THandler : class, IMessageHandler<TMessage>
    {
        var type = messageType ?? typeof(TMessage).FullName ?? typeof(TMessage).Name;
        if (type.Length is 0 or > 512)
        {
            throw new ArgumentException($"A message type name has 1 to 512 characters (got {type.Length}).", nameof(messageType));
        }

        _registry.Add(new InboxHandlerDescriptor<TMessage, THandler>(type) { EnforceOrder = enforceOrder });
        Services.TryAddScoped<THandler>();
        return this;
    }

    /// <summary>Configures this consumer's options (applied after its <c>Outbox:Consumers:{name}</c> section).</summary>
    public OutboxConsumerBuilder Configure(Action<InboxConsumerOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        Services.Configure(Name, configure);
        return this;
    }

    /// <summary>
    /// Writes each message's inbox row, and runs its handler, in the database of the message's tenant (its
    /// <c>outbox-tenant</c> header, set by a database-per-tenant outbox), listed by <typeparamref name="TSource"/> (a
    /// singleton): the inbox makes the tenant the scope's <see cref="OutboxTenantContext"/> before it resolves the
    /// consumer's DbContext, so the context connects to that database and the inbox row and the handler's writes commit
    /// in one transaction there. A batch holds one tenant's messages. A message whose tenant the source does not list
    /// (after reading it again) gets a context without a connection string: the attempt fails like a database that is
    /// down and the message is requeued after <see cref="InboxConsumerOptions.RequeueDelay"/>. See docs/tenants.md.
    /// </summary>
    public OutboxConsumerBuilder UseDatabasePerTenant<TSource>()
        where TSource : class, IOutboxDatabaseSource
    {
        Services.TryAddSingleton<TSource>();
        return UseDatabasePerTenant(static sp => sp.GetRequiredService<TSource>());
    }

    /// <summary>
    /// Writes each message's inbox in the database of its tenant, listed by <paramref name="source"/>; see
    /// <see cref="UseDatabasePerTenant{TSource}()"/>.
    /// </summary>
    public OutboxConsumerBuilder UseDatabasePerTenant(IOutboxDatabaseSource source)
    {
        ArgumentNullException.ThrowIfNull(source);
        return UseDatabasePerTenant(_ => source);
    }

    private OutboxConsumerBuilder UseDatabasePerTenant(Func<IServiceProvider, IOutboxDatabaseSource> source)
    {
        Services.TryAddScoped<OutboxTenantContext>();
        var existing = Services.FirstOrDefault(d => d.IsKeyedService && d.ServiceType == typeof(OutboxTenantDirectory) && Equals(d.ServiceKey, Name));
        if (existing is not null)
        {
            Services.Remove(existing);
        }

        Services.AddKeyedSingleton(Name, (sp, _) => new OutboxTenantDirectory(source(sp), sp.GetRequiredService<TimeProvider>()));
        return this;
    }

    /// <summary>
    /// Registers the store-independent parts of consumer <paramref name="name"/> and returns its builder; a second call
    /// with the same name returns a builder over the same handlers. Called by the store packages.
    /// </summary>
    internal static OutboxConsumerBuilder Create(IServiceCollection services, string name)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(name);
        if (!NamePattern().IsMatch(name))
        {
            throw new ArgumentException(
                $"The consumer name '{name}' is not valid: use 1 to 128 letters, digits, '.', '-' or '_', starting with a letter or digit.",
                nameof(name));
        }

        var registry = services
            .Where(d => d.IsKeyedService && d.ServiceType == typeof(InboxHandlerRegistry) && Equals(d.ServiceKey, name))
            .Select(d => d.KeyedImplementationInstance)
            .OfType<InboxHandlerRegistry>()
            .FirstOrDefault();
        if (registry is null)
        {
            registry = new InboxHandlerRegistry(name);
            services.AddKeyedSingleton(name, registry);
            services.AddOptions<InboxConsumerOptions>(name)
                .BindConfiguration($"{InboxConsumerOptions.SectionName}:{name}")
                .ValidateDataAnnotations()
                .ValidateOnStart();
        }

        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<IMessageSerializer>(SystemTextJsonMessageSerializer.Default);
        services.TryAddSingleton<IInboxReceiver, InboxReceiver>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<InboxConsumerOptions>, InboxConsumerOptionsValidator>());
        if (!services.Any(static d => d.ServiceType == typeof(InboxConsumerTransportCheck)))
        {
            // Reads the registrations themselves (which transport registered what), hence the collection.
            services.AddSingleton(sp => new InboxConsumerTransportCheck(services, sp.GetRequiredService<Microsoft.Extensions.Logging.ILogger<InboxConsumerTransportCheck>>()));
            services.AddSingleton<IHostedService>(static sp => sp.GetRequiredService<InboxConsumerTransportCheck>());
        }

        return new OutboxConsumerBuilder(services, name, registry);
    }

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$", RegexOptions.CultureInvariant)]
    private static partial Regex NamePattern();
}
