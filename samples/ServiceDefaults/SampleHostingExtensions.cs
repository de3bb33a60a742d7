using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Samples.ServiceDefaults;

public static class SampleHostingExtensions
{
    /// <summary>Reads the <c>Sample</c> section and registers the duplicate counter.</summary>
    public static SampleOptions AddSampleDefaults(this WebApplicationBuilder builder)
    {
        var options = builder.Configuration.GetSection(SampleOptions.SectionName).Get<SampleOptions>() ?? new SampleOptions();
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton<InboxDuplicateCounter>();
        builder.Services.AddHealthChecks();
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

    /// <summary>Starts the duplicate counter before any message arrives and maps <c>/health</c>.</summary>
    public static WebApplication MapSampleDefaults(this WebApplication app)
    {
        _ = app.Services.GetRequiredService<InboxDuplicateCounter>();
        app.MapHealthChecks("/health");
        return app;
    }
}
