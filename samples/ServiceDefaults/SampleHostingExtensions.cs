using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Samples.ServiceDefaults;

public static class SampleHostingExtensions
{
    /// <summary>
    /// Reads the <c>Sample</c> section; registers the duplicate counter, the health checks (ASP.NET Core's, plus the
    /// outbox's: backlog age, dead letters, dispatcher heartbeat) and the outbox admin API and dashboard.
    /// </summary>
    public static SampleOptions AddSampleDefaults(this WebApplicationBuilder builder)
    {
        var options = builder.Configuration.GetSection(SampleOptions.SectionName).Get<SampleOptions>() ?? new SampleOptions();
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton<InboxDuplicateCounter>();
        builder.Services.AddHealthChecks().AddOutboxHealthChecks();
        builder.Services.AddOutboxAdmin();
        return options;
    }

    /// <summary>
    /// Demo fault injection: drops the connection instead of sending the 200 for a share of the POSTs under
    /// <paramref name="inboxPath"/>, after the inbox committed. The sender sees a network error and sends again.
    /// </summary>
    public static WebApplication UseDroppedInboxResponses(this WebApplication app, string inboxPath = "/inbox")
    {
        var options = app.Services.GetRequiredService<SampleOptions>();
        if (options.DropInboxResponses <= 0)
        {
            return app;
        }

        app.Use(async (context, next) =>
        {
            await next(context);
            if (context.Request.Path.StartsWithSegments(inboxPath)
                && context.Response.StatusCode == StatusCodes.Status200OK
                && !context.Response.HasStarted
                && Random.Shared.NextDouble() < options.DropInboxResponses)
            {
                context.Abort();
            }
        });
        return app;
    }

    /// <summary>
    /// Starts the duplicate counter before any message arrives; maps <c>/alive</c> (the process answers),
    /// <c>/health</c> (every check, the outbox's included) and the outbox dashboard and admin API at <c>/outbox</c>.
    /// </summary>
    public static WebApplication MapSampleDefaults(this WebApplication app)
    {
        _ = app.Services.GetRequiredService<InboxDuplicateCounter>();
        app.MapHealthChecks("/alive", new HealthCheckOptions { Predicate = _ => false });
        app.MapHealthChecks("/health", new HealthCheckOptions { ResponseWriter = Outbox.AspNetCore.OutboxHealthResponseWriter.WriteAsync });

        // The samples listen on 127.0.0.1 only, so the dashboard is mapped without authorization. A real service names
        // an authorization policy instead: o.AuthorizationPolicy = "outbox-admin".
        app.MapOutboxAdmin("/outbox", o => o.AllowAnonymous = true);
        return app;
    }
}
