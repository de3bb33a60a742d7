using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Outbox;
using Outbox.RabbitMQ;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Chooses RabbitMQ as the outbox transport, and as the source of a consumer's messages.</summary>
public static class OutboxRabbitMqBuilderExtensions
{
    /// <summary>
    /// Sends outbox messages to RabbitMQ: to the exchange named by the message's destination, with its message type as
    /// routing key (both changeable in <see cref="RabbitMqOptions"/>), persistent, confirmed, mandatory. Connection and
    /// topology come from <c>Outbox:RabbitMQ</c> and <paramref name="configure"/>.
    /// </summary>
    public static OutboxBuilder UseRabbitMq(this OutboxBuilder builder, Action<RabbitMqOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        AddRabbitMq(builder.Services, configure);
        return builder.UseTransport<RabbitMqTransport>();
    }

    /// <summary>
    /// Feeds this consumer from RabbitMQ queue <paramref name="queue"/>, with manual acknowledgements: a delivery is
    /// acknowledged once the inbox has recorded its outcome. The connection and topology are the shared
    /// <see cref="RabbitMqOptions"/> (<c>Outbox:RabbitMQ</c>, or <c>AddOutbox().UseRabbitMq(...)</c> in the same process).
    /// </summary>
    public static OutboxConsumerBuilder UseRabbitMq(this OutboxConsumerBuilder builder, string queue, Action<RabbitMqConsumerOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(queue);
        return builder.UseRabbitMq(o =>
        {
            o.Queue = queue;
            configure?.Invoke(o);
        });
    }

    /// <summary>
    /// Feeds this consumer from RabbitMQ with the given options (at least the queue); see
    /// <see cref="UseRabbitMq(OutboxConsumerBuilder, string, Action{RabbitMqConsumerOptions})"/>.
    /// </summary>
    public static OutboxConsumerBuilder UseRabbitMq(this OutboxConsumerBuilder builder, Action<RabbitMqConsumerOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        var services = builder.Services;
        var name = builder.Name;
        AddRabbitMq(services, configure: null);
        services.AddOptions<RabbitMqConsumerOptions>(name)
            .BindConfiguration($"{RabbitMqConsumerOptions.SectionName}:{name}")
            .Configure(configure)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        if (!services.Any(d => d.IsKeyedService && d.ServiceType == typeof(RabbitMqInboxConsumer) && Equals(d.ServiceKey, name)))
        {
            services.AddKeyedSingleton(name, static (sp, key) => new RabbitMqInboxConsumer(
                (string)key!,
                sp.GetRequiredService<RabbitMqConnectionFactory>(),
                sp.GetRequiredService<IOptions<RabbitMqOptions>>(),
                sp.GetRequiredService<IOptionsMonitor<RabbitMqConsumerOptions>>(),
                sp.GetRequiredService<IInboxReceiver>(),
                sp.GetRequiredService<IOptionsMonitor<InboxConsumerOptions>>(),
                sp.GetRequiredService<TimeProvider>(),
                sp.GetRequiredService<ILogger<RabbitMqInboxConsumer>>()));
            services.AddSingleton<IHostedService>(sp => sp.GetRequiredKeyedService<RabbitMqInboxConsumer>(name));
        }

        return builder;
    }

    private static void AddRabbitMq(IServiceCollection services, Action<RabbitMqOptions>? configure)
    {
        var options = services.AddOptions<RabbitMqOptions>()
            .BindConfiguration(RabbitMqOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<RabbitMqOptions>, RabbitMqOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<RabbitMqConnectionFactory>();
    }
}
