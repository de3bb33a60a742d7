using Microsoft.Extensions.DependencyInjection.Extensions;
using Outbox;
using Outbox.Transport.InMemory;
using Polly;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// Returned by <see cref="OutboxServiceCollectionExtensions.AddOutbox(IServiceCollection)"/>: chooses the store, the
/// transport, the serializer and the resilience pipeline. Every method returns the same builder.
/// </summary>
public sealed class OutboxBuilder
{
    internal OutboxBuilder(IServiceCollection services) => Services = services;

    /// <summary>The service collection the outbox registers into.</summary>
    public IServiceCollection Services { get; }

    /// <summary>Configures the dispatcher options (applied after the <c>Outbox:Dispatcher</c> configuration section).</summary>
    public OutboxBuilder ConfigureDispatcher(Action<OutboxDispatcherOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        Services.Configure(configure);
        return this;
    }

    /// <summary>Uses <typeparamref name="TTransport"/> (a singleton) to send messages, replacing any transport registered before.</summary>
    public OutboxBuilder UseTransport<TTransport>()
        where TTransport : class, IMessageTransport
    {
        Services.TryAddSingleton<TTransport>();
        Services.Replace(ServiceDescriptor.Singleton<IMessageTransport>(static sp => sp.GetRequiredService<TTransport>()));
        return this;
    }

    /// <summary>
    /// Uses an <see cref="InMemoryTransport"/> (resolvable as itself, to inspect what was sent). For tests and samples.
    /// </summary>
    public OutboxBuilder UseInMemoryTransport() => UseTransport<InMemoryTransport>();

    /// <summary>Serializes payloads with <paramref name="serializer"/> instead of System.Text.Json.</summary>
    public OutboxBuilder UseSerializer(IMessageSerializer serializer)
    {
        ArgumentNullException.ThrowIfNull(serializer);
        Services.Replace(ServiceDescriptor.Singleton(serializer));
        return this;
    }

    /// <summary>
    /// Replaces the resilience pipeline around transport sends. The builder given to <paramref name="configure"/> is
    /// empty; call <see cref="OutboxResilience.AddOutboxDefaults"/> on it to start from the defaults.
    /// </summary>
    public OutboxBuilder ConfigureResilience(Action<ResiliencePipelineBuilder, OutboxDispatcherOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        Services.Configure<OutboxResilienceOptions>(o => o.Configure = configure);
        return this;
    }
}
