using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Outbox;
using Outbox.Http;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Chooses HTTP as the outbox transport, and as a source of a consumer's messages.</summary>
public static class OutboxHttpBuilderExtensions
{
    /// <summary>
    /// Sends outbox messages by HTTP POST to the URL of their destination (<see cref="HttpTransportOptions"/>, bound from
    /// <c>Outbox:Http</c> and <paramref name="configure"/>), through the named client
    /// <see cref="HttpTransportOptions.HttpClientName"/>. 2xx is delivered; 4xx other than 408 and 429 dead-letters the
    /// message with the status; anything else (401 and 403 included) is retried by the dispatcher. Requests to a
    /// destination with a key in <see cref="HttpTransportOptions.SigningKeys"/> are signed (HMAC-SHA256).
    /// </summary>
    public static OutboxBuilder UseHttp(this OutboxBuilder builder, Action<HttpTransportOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        if (!services.Any(static d => d.ServiceType == typeof(HttpTransport)))
        {
            // First call: bind and validate once, so that calling it again adds nothing but its configure action.
            services.AddOptions<HttpTransportOptions>()
                .BindConfiguration(HttpTransportOptions.SectionName)
                .ValidateDataAnnotations()
                .ValidateOnStart();
            services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<HttpTransportOptions>, HttpTransportOptionsValidator>());

            // The dispatcher's SendTimeout bounds each send; redirects are not followed (a POST must reach its URL).
            services.AddHttpClient(HttpTransportOptions.HttpClientName)
                .ConfigureHttpClient(static c => c.Timeout = Timeout.InfiniteTimeSpan)
                .ConfigurePrimaryHttpMessageHandler(static () => new SocketsHttpHandler
                {
                    AllowAutoRedirect = false,
                    PooledConnectionLifetime = TimeSpan.FromMinutes(2),
                });
        }

        if (configure is not null)
        {
            services.Configure(configure); // after the binding: code wins over configuration
        }

        return builder.UseTransport<HttpTransport>();
    }

    /// <summary>
    /// Lets this consumer receive over HTTP: <c>app.MapOutboxHttpInbox("/inbox/{consumer}")</c> (or
    /// <c>MapOutboxHttpInbox(pattern, consumer)</c>) serves it. Options (signing keys, authorization policy, body size
    /// limit, <c>Retry-After</c>) come from <c>Outbox:Http:Inbox:{name}</c> and <paramref name="configure"/>. Start-up
    /// fails unless the consumer has signing keys (<see cref="HttpInboxOptions.SigningKeys"/>), an authorization policy
    /// (<see cref="HttpInboxOptions.AuthorizationPolicy"/>), or <see cref="HttpInboxOptions.AllowUnauthenticated"/> set on
    /// purpose.
    /// </summary>
    public static OutboxConsumerBuilder UseHttp(this OutboxConsumerBuilder builder, Action<HttpInboxOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        var name = builder.Name;
        var options = services.AddOptions<HttpInboxOptions>(name);
        if (!services.Any(d => d.IsKeyedService && d.ServiceType == typeof(HttpInboxRegistration) && Equals(d.ServiceKey, name)))
        {
            var registration = new HttpInboxRegistration(name);
            services.AddKeyedSingleton(name, registration);
            services.AddSingleton(registration);
            options.BindConfiguration($"{HttpInboxOptions.SectionName}:{name}")
                .ValidateDataAnnotations()
                .ValidateOnStart();
        }

        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<HttpInboxOptions>, HttpInboxOptionsValidator>());
        if (configure is not null)
        {
            options.Configure(configure);
        }

        services.TryAddSingleton<HttpInboxEndpoint>();
        return builder;
    }
}
