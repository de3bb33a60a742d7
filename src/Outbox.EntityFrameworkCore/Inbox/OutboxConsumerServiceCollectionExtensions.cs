using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Outbox;
using Outbox.EntityFrameworkCore;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers consumers whose inbox lives in an EF Core DbContext.</summary>
public static class OutboxConsumerServiceCollectionExtensions
{
    /// <summary>
    /// Adds consumer <paramref name="name"/>: each message it receives is recorded in the inbox of
    /// <typeparamref name="TContext"/> (whose model must call <c>modelBuilder.AddInbox()</c>) and handled in the same
    /// transaction, with a context resolved in a new scope per message. Also adds the inbox retention cleanup for that
    /// context (<see cref="InboxCleanupOptions"/>). Add handlers with <see cref="OutboxConsumerBuilder.AddHandler{TMessage, THandler}"/>
    /// and a transport (for example <c>UseRabbitMq(...)</c>) on the returned builder. Calling it again with the same
    /// name adds to the same consumer.
    /// </summary>
    /// <exception cref="ArgumentException">The name is not valid (1 to 128 letters, digits, '.', '-', '_').</exception>
    /// <exception cref="InvalidOperationException">The consumer is already registered with another DbContext.</exception>
    public static OutboxConsumerBuilder AddOutboxConsumer<TContext>(this IServiceCollection services, string name, Action<OutboxConsumerBuilder>? configure = null)
        where TContext : DbContext
    {
        ArgumentNullException.ThrowIfNull(services);
        var builder = OutboxConsumerBuilder.Create(services, name);
        var existing = services
            .Where(d => d.IsKeyedService && d.ServiceType == typeof(InboxConsumerStore) && Equals(d.ServiceKey, name))
            .Select(d => d.KeyedImplementationInstance)
            .OfType<InboxConsumerStore>()
            .FirstOrDefault();
        if (existing is null)
        {
            services.AddKeyedSingleton(name, new InboxConsumerStore(typeof(TContext)));
            services.AddKeyedSingleton<IInboxProcessor>(name, static (sp, key) => new EntityFrameworkInboxProcessor<TContext>(
                (string)key!,
                sp.GetRequiredService<IServiceScopeFactory>(),
                sp.GetRequiredKeyedService<InboxHandlerRegistry>(key),
                sp.GetRequiredService<IMessageSerializer>(),
                sp.GetRequiredService<TimeProvider>(),
                sp.GetRequiredService<IOptionsMonitor<InboxConsumerOptions>>()));
            services.AddSingleton<IValidateOptions<InboxConsumerOptions>>(sp =>
                new InboxModelValidator<TContext>(name, sp.GetRequiredService<IServiceScopeFactory>()));
        }
        else if (existing.ContextType != typeof(TContext))
        {
            throw new InvalidOperationException(
                $"Consumer '{name}' is already registered with {existing.ContextType.Name}; a consumer keeps its inbox in one DbContext.");
        }

        OutboxStartupRequirements<TContext>.RequireInbox(services, name);
        services.AddOptions<InboxCleanupOptions>()
            .BindConfiguration(InboxCleanupOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, InboxCleanupService<TContext>>());
        configure?.Invoke(builder);
        return builder;
    }
}
