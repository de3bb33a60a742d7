using System.Diagnostics.CodeAnalysis;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Patterns;
using Microsoft.Extensions.DependencyInjection;
using Outbox.Http;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Maps the HTTP inbox endpoint: where other services' HTTP transports (or any webhook sender) post messages.</summary>
public static class OutboxHttpEndpointRouteBuilderExtensions
{
    /// <summary>The route parameter that names the consumer in <see cref="MapOutboxHttpInbox(IEndpointRouteBuilder, string)"/>.</summary>
    public const string ConsumerParameter = "consumer";

    /// <summary>
    /// Maps <c>POST {pattern}</c> for every consumer registered with <c>.UseHttp()</c>; the route parameter
    /// <c>{consumer}</c> names the consumer (404 for any other). The request becomes an <see cref="Outbox.IncomingMessage"/>
    /// (headers <c>outbox-message-id</c>, <c>outbox-message-type</c>, ...; the body is the payload) and goes through
    /// the consumer's inbox. Before anything is read or written, the request must pass the consumer's
    /// <see cref="HttpInboxOptions.AuthorizationPolicy"/> (else 401 or 403) and carry a valid, recent signature by one of
    /// its <see cref="HttpInboxOptions.SigningKeys"/> (else 401): a refused request leaves no row anywhere. Answers 200
    /// when the message is processed, a duplicate or dead-lettered; 503 with <c>Retry-After</c> when it must be sent
    /// again; 413 when the body is too large.
    /// </summary>
    /// <returns>The endpoint's convention builder (add authorization, rate limiting, ... to it).</returns>
    /// <exception cref="ArgumentException"><paramref name="pattern"/> has no <c>{consumer}</c> parameter.</exception>
    /// <exception cref="InvalidOperationException">No consumer was registered with <c>.UseHttp()</c>, or one has neither
    /// signing keys nor an authorization policy (<see cref="HttpInboxOptions"/>) and does not allow unauthenticated
    /// requests on purpose (an <see cref="Microsoft.Extensions.Options.OptionsValidationException"/> naming the option),
    /// or its policy is not registered.</exception>
    public static IEndpointConventionBuilder MapOutboxHttpInbox(this IEndpointRouteBuilder endpoints, [StringSyntax("Route")] string pattern = "/inbox/{consumer}")
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentException.ThrowIfNullOrEmpty(pattern);
        if (RoutePatternFactory.Parse(pattern).GetParameter(ConsumerParameter) is null)
        {
            throw new ArgumentException($"The pattern '{pattern}' has no {{{ConsumerParameter}}} parameter; use MapOutboxHttpInbox(pattern, consumer) for a fixed consumer.", nameof(pattern));
        }

        var endpoint = Resolve(endpoints);
        endpoint.CheckMapping(endpoint.Consumers(), pattern);
        return endpoints.MapPost(pattern, context => endpoint.HandleAsync(context, context.GetRouteValue(ConsumerParameter) as string))
            .WithDisplayName($"Outbox HTTP inbox {pattern}")
            .DisableAntiforgery();
    }

    /// <summary>
    /// Maps <c>POST {pattern}</c> for consumer <paramref name="consumer"/> alone (registered with <c>.UseHttp()</c>);
    /// see <see cref="MapOutboxHttpInbox(IEndpointRouteBuilder, string)"/> for what it answers.
    /// </summary>
    /// <returns>The endpoint's convention builder.</returns>
    /// <exception cref="InvalidOperationException"><paramref name="consumer"/> was not registered with <c>.UseHttp()</c>,
    /// or is open to anyone by mistake (see the other overload).</exception>
    public static IEndpointConventionBuilder MapOutboxHttpInbox(this IEndpointRouteBuilder endpoints, [StringSyntax("Route")] string pattern, string consumer)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentException.ThrowIfNullOrEmpty(pattern);
        ArgumentException.ThrowIfNullOrEmpty(consumer);
        var endpoint = Resolve(endpoints);
        if (!endpoint.Serves(consumer))
        {
            throw new InvalidOperationException(
                $"Consumer '{consumer}' does not receive over HTTP: call .UseHttp() on services.AddOutboxConsumer<TContext>(\"{consumer}\").");
        }

        endpoint.CheckMapping([consumer], pattern);

        return endpoints.MapPost(pattern, context => endpoint.HandleAsync(context, consumer))
            .WithDisplayName($"Outbox HTTP inbox {pattern} ({consumer})")
            .DisableAntiforgery();
    }

    private static HttpInboxEndpoint Resolve(IEndpointRouteBuilder endpoints) =>
        endpoints.ServiceProvider.GetService<HttpInboxEndpoint>()
        ?? throw new InvalidOperationException(
            "No consumer receives over HTTP: call .UseHttp() on services.AddOutboxConsumer<TContext>(name) before mapping the HTTP inbox.");
}
