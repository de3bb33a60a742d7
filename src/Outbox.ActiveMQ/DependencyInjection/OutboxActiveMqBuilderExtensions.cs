using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Outbox;
using Outbox.ActiveMQ;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Chooses ActiveMQ (over STOMP 1.2) as the outbox transport, and as the source of a consumer's messages.</summary>
public static class OutboxActiveMqBuilderExtensions
{
    /// <summary>
    /// Sends outbox messages to ActiveMQ over STOMP: to the queue named by the message's destination (or the topic, for
    /// a destination <c>/topic/...</c>; changeable in <see cref="ActiveMqOptions.DestinationFor"/>), persistent, each
    /// confirmed by the broker's receipt. The connection comes from <c>Outbox:ActiveMQ</c> and <paramref name="configure"/>.
    /// </summary>
    public static OutboxBuilder UseActiveMq(this OutboxBuilder builder, Action<ActiveMqOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        AddActiveMq(builder.Services, configure);
        return builder.UseTransport<ActiveMqTransport>();
    }

    /// <summary>
    /// Feeds this consumer from ActiveMQ destination <paramref name="destination"/> (a queue name, <c>/queue/name</c> or
    /// <c>/topic/name</c>) with <c>ack:client-individual</c>: a message is acknowledged once the inbox has recorded its
    /// outcome. The connection is the shared <see cref="ActiveMqOptions"/> (<c>Outbox:ActiveMQ</c>, or
    /// <c>AddOutbox().UseActiveMq(...)</c> in the same process).
    /// </summary>
    public static OutboxConsumerBuilder UseActiveMq(this OutboxConsumerBuilder builder, string destination, Action<ActiveMqConsumerOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(destination);
        return builder.UseActiveMq(o =>
        {
            o.Destination = destination;
            configure?.Invoke(o);
        });
    }

    /// <summary>
    /// Feeds this consumer from ActiveMQ with the given options (at least the destination); see
    /// <see cref="UseActiveMq(OutboxConsumerBuilder, string, Action{ActiveMqConsumerOptions})"/>.
    /// </summary>
    public static OutboxConsumerBuilder UseActiveMq(this OutboxConsumerBuilder builder, Action<ActiveMqConsumerOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        var services = builder.Services;
        var name = builder.Name;
        AddActiveMq(services, configure: null);
        services.AddOptions<ActiveMqConsumerOptions>(name)
            .BindConfiguration($"{ActiveMqConsumerOptions.SectionName}:{name}")
            .Configure(configure)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ActiveMqConsumerOptions>, ActiveMqConsumerOptionsValidator>());
        if (!services.Any(d => d.IsKeyedService && d.ServiceType == typeof(ActiveMqInboxConsumer) && Equals(d.ServiceKey, name)))
        {
            services.AddKeyedSingleton(name, static (sp, key) => new ActiveMqInboxConsumer(
                (string)key!,
                sp.GetRequiredService<ActiveMqConnectionFactory>(),
                sp.GetRequiredService<IOptions<ActiveMqOptions>>(),
                sp.GetRequiredService<IOptionsMonitor<ActiveMqConsumerOptions>>(),
                sp.GetRequiredService<IInboxReceiver>(),
                sp.GetRequiredService<IOptionsMonitor<InboxConsumerOptions>>(),
                sp.GetRequiredService<TimeProvider>(),
                sp.GetRequiredService<ILogger<ActiveMqInboxConsumer>>()));
            services.AddSingleton<IHostedService>(sp => sp.GetRequiredKeyedService<ActiveMqInboxConsumer>(name));
        }

        return builder;
    }

    private static void AddActiveMq(IServiceCollection services, Action<ActiveMqOptions>? configure)
    {
        var options = services.AddOptions<ActiveMqOptions>()
            .BindConfiguration(ActiveMqOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ActiveMqOptions>, ActiveMqOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<ActiveMqConnectionFactory>();
    }
}
