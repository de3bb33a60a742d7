using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Outbox;
using Outbox.AspNetCore;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Maps the outbox admin API and dashboard.</summary>
public static class OutboxAdminEndpointRouteBuilderExtensions
{
    /// <summary>
    /// Maps the admin API under <paramref name="prefix"/>: <c>GET api/stats</c>, <c>GET api/pending</c>,
    /// <c>GET api/pending/{id}</c>, <c>GET api/dead-letters</c>, <c>GET api/dead-letters/{id}</c>,
    /// <c>POST api/dead-letters/requeue</c>, <c>POST api/dead-letters/purge</c>, <c>GET api/inbox/dead-letters</c>,
    /// <c>GET api/inbox/dead-letters/{id}</c>, <c>POST api/inbox/dead-letters/purge</c>, and the dashboard page at
    /// <paramref name="prefix"/> itself. Every endpoint requires the authorization policy named in
    /// <see cref="OutboxAdminEndpointOptions.AuthorizationPolicy"/>. Errors are ProblemDetails (400 naming the field,
    /// 404 for an unknown id). Needs <c>services.AddOutboxAdmin()</c> and an outbox store (<c>UsePostgreSql</c> /
    /// <c>UseSqlite</c>).
    /// </summary>
    /// <param name="endpoints">The application.</param>
    /// <param name="prefix">A literal path, for example <c>/outbox</c>.</param>
    /// <param name="configure">Sets the authorization policy (required) and what to serve.</param>
    /// <returns>The route group, for further conventions (<c>RequireHost</c>, rate limiting, ...).</returns>
    /// <exception cref="InvalidOperationException">
    /// No authorization policy is named (and <see cref="OutboxAdminEndpointOptions.AllowAnonymous"/> is not set), the
    /// policy is not registered, or a required service is missing; the message says what to do.
    /// </exception>
    public static RouteGroupBuilder MapOutboxAdmin(this IEndpointRouteBuilder endpoints, string prefix, Action<OutboxAdminEndpointOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentNullException.ThrowIfNull(prefix);
        ArgumentNullException.ThrowIfNull(configure);
        if (!prefix.StartsWith('/') || prefix.Contains('{', StringComparison.Ordinal) || prefix.Contains('}', StringComparison.Ordinal)
            || prefix.Contains('?', StringComparison.Ordinal) || prefix.Contains('#', StringComparison.Ordinal))
        {
            throw new ArgumentException($"The outbox admin prefix must be a literal path starting with '/', such as \"/outbox\" (got \"{prefix}\").", nameof(prefix));
        }

        prefix = prefix.Length > 1 ? prefix.TrimEnd('/') : prefix;
        var options = new OutboxAdminEndpointOptions();
        configure(options);
        var services = endpoints.ServiceProvider;
        var isService = services.GetRequiredService<IServiceProviderIsService>();
        if (!isService.IsService(typeof(OutboxMetricsAggregator)))
        {
            throw new InvalidOperationException("MapOutboxAdmin needs the admin services: call builder.Services.AddOutboxAdmin() first.");
        }

        if (!isService.IsService(typeof(IOutboxAdminStore))
            && !services.GetServices<OutboxInstance>().Any(o => o.Has(services, typeof(IOutboxAdminStore))))
        {
            throw new InvalidOperationException(
                "MapOutboxAdmin needs an outbox admin store: call builder.Services.AddOutbox().UsePostgreSql<TContext>() or .UseSqlite<TContext>().");
        }

        var logger = services.GetRequiredService<ILoggerFactory>().CreateLogger("Outbox.AspNetCore.OutboxAdmin");
        var policy = options.AuthorizationPolicy;
        if (options.AllowAnonymous && policy is not null)
        {
            throw new InvalidOperationException(
                $"MapOutboxAdmin was given both AuthorizationPolicy ('{policy}') and AllowAnonymous = true; choose one.");
        }

        if (!options.AllowAnonymous)
        {
            if (string.IsNullOrWhiteSpace(policy))
            {
                throw new InvalidOperationException(
                    "MapOutboxAdmin requires an authorization policy: the admin API can requeue and delete messages. Register one with " +
                    "builder.Services.AddAuthorization(o => o.AddPolicy(\"OutboxAdmin\", p => p.RequireRole(\"ops\"))) and pass " +
                    "app.MapOutboxAdmin(\"/outbox\", o => o.AuthorizationPolicy = \"OutboxAdmin\"). To expose it without authorization " +
                    "(local development only), set o.AllowAnonymous = true.");
            }

            // The default provider knows its policies up front: a typo fails now rather than at the first request.
            if (services.GetService<IAuthorizationPolicyProvider>() is DefaultAuthorizationPolicyProvider
                && services.GetService<IOptions<AuthorizationOptions>>()?.Value.GetPolicy(policy) is null)
            {
                throw new InvalidOperationException(
                    $"MapOutboxAdmin: the authorization policy '{policy}' is not registered. Add it with builder.Services.AddAuthorization(o => o.AddPolicy(\"{policy}\", ...)).");
            }

            if (services.GetService<IAuthorizationPolicyProvider>() is null)
            {
                throw new InvalidOperationException(
                    $"MapOutboxAdmin: authorization is not set up. Call builder.Services.AddAuthorization(o => o.AddPolicy(\"{policy}\", ...)).");
            }
        }

        var group = endpoints.MapGroup(prefix);
        if (options.AllowAnonymous)
        {
            group.AllowAnonymous();
            OutboxAdminLog.MappedAnonymous(logger, prefix);
        }
        else
        {
            group.RequireAuthorization(policy!);
            OutboxAdminLog.Mapped(logger, prefix, policy!);
        }

        group.WithTags("Outbox admin");
        OutboxAdminEndpoints.Map(group);
        if (options.EnableDashboard)
        {
            OutboxDashboard.Map(group, prefix);
        }

        return group;
    }

    /// <summary>Maps the admin API and dashboard at <c>/outbox</c>; see <see cref="MapOutboxAdmin(IEndpointRouteBuilder, string, Action{OutboxAdminEndpointOptions})"/>.</summary>
    public static RouteGroupBuilder MapOutboxAdmin(this IEndpointRouteBuilder endpoints, Action<OutboxAdminEndpointOptions> configure) =>
        endpoints.MapOutboxAdmin("/outbox", configure);
}
