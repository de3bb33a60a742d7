using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Outbox;
using Outbox.Kafka;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Chooses Kafka as the outbox transport, and as the source of a consumer's messages.</summary>
public static class OutboxKafkaBuilderExtensions
{
    /// <summary>
    /// Sends outbox messages to Kafka with an idempotent producer (<c>acks=all</c>): to the topic named by the message's
    /// destination (mapped by <see cref="KafkaOptions.Topics"/> or <see cref="KafkaOptions.TopicFor"/>), keyed by its
    /// partition key. The cluster connection comes from <c>Outbox:Kafka</c> and <paramref name="configure"/>.
    /// </summary>
    public static OutboxBuilder UseKafka(this OutboxBuilder builder, Action<KafkaOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        AddKafka(builder.Services, configure);
        return builder.UseTransport<KafkaTransport>();
    }

    /// <summary>
    /// Feeds this consumer from Kafka topic <paramref name="topic"/> as a member of consumer group
    /// <see cref="KafkaConsumerOptions.GroupId"/> (the consumer name by default); offsets are committed once the inbox
    /// has recorded the messages' outcomes. The cluster connection is the shared <see cref="KafkaOptions"/>
    /// (<c>Outbox:Kafka</c>, or <c>AddOutbox().UseKafka(...)</c> in the same process).
    /// </summary>
    public static OutboxConsumerBuilder UseKafka(this OutboxConsumerBuilder builder, string topic, Action<KafkaConsumerOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(topic);
        return builder.UseKafka(o =>
        {
            if (!o.Topics.Contains(topic))
            {
                o.Topics.Add(topic);
            }

            configure?.Invoke(o);
        });
    }

    /// <summary>
    /// Feeds this consumer from Kafka with the given options (at least one topic); see
    /// <see cref="UseKafka(OutboxConsumerBuilder, string, Action{KafkaConsumerOptions})"/>.
    /// </summary>
    public static OutboxConsumerBuilder UseKafka(this OutboxConsumerBuilder builder, Action<KafkaConsumerOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        var services = builder.Services;
        var name = builder.Name;
        AddKafka(services, configure: null);
        services.AddOptions<KafkaConsumerOptions>(name)
            .BindConfiguration($"{KafkaConsumerOptions.SectionName}:{name}")
            .Configure(configure)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<KafkaConsumerOptions>, KafkaConsumerOptionsValidator>());
        if (!services.Any(d => d.IsKeyedService && d.ServiceType == typeof(KafkaInboxConsumer) && Equals(d.ServiceKey, name)))
        {
            services.AddKeyedSingleton(name, static (sp, key) => new KafkaInboxConsumer(
                (string)key!,
                sp.GetRequiredService<IOptions<KafkaOptions>>(),
                sp.GetRequiredService<IOptionsMonitor<KafkaConsumerOptions>>(),
                sp.GetRequiredService<IInboxReceiver>(),
                sp.GetRequiredService<IOptionsMonitor<InboxConsumerOptions>>(),
                sp.GetRequiredService<TimeProvider>(),
                sp.GetRequiredService<ILogger<KafkaInboxConsumer>>()));
            services.AddSingleton<IHostedService>(sp => sp.GetRequiredKeyedService<KafkaInboxConsumer>(name));
        }

        return builder;
    }

    private static void AddKafka(IServiceCollection services, Action<KafkaOptions>? configure)
    {
        var options = services.AddOptions<KafkaOptions>()
            .BindConfiguration(KafkaOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<KafkaOptions>, KafkaOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
    }
}
