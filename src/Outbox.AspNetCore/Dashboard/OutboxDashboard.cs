using System.Globalization;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Outbox.AspNetCore;

/// <summary>
/// Serves the dashboard from embedded resources: one HTML page, one script, one style sheet, no CDN. The page gets the
/// API's base path and refresh interval through data attributes (no inline script), and a strict
/// Content-Security-Policy.
/// </summary>
internal static class OutboxDashboard
{
    private const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    private static readonly Lazy<string> Page = new(() => Read("index.html"));
    private static readonly Lazy<byte[]> Script = new(() => System.Text.Encoding.UTF8.GetBytes(Read("dashboard.js")));
    private static readonly Lazy<byte[]> Styles = new(() => System.Text.Encoding.UTF8.GetBytes(Read("dashboard.css")));

    public static void Map(RouteGroupBuilder group, string prefix)
    {
        group.MapGet("/", Handler(http =>
        {
            var refresh = http.RequestServices.GetRequiredService<IOptions<OutboxAdminOptions>>().Value.DashboardRefresh;
            var basePath = HtmlEncoder.Default.Encode(http.Request.PathBase.Add(prefix).Value ?? prefix);
            var html = Page.Value
                .Replace("{{base}}", basePath, StringComparison.Ordinal)
                .Replace("{{refresh}}", ((long)refresh.TotalMilliseconds).ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal);
            Secure(http);
            return Results.Content(html, "text/html; charset=utf-8");
        }));
        group.MapGet("/dashboard.js", Handler(http =>
        {
            Secure(http);
            return Results.Bytes(Script.Value, "text/javascript; charset=utf-8");
        }));
        group.MapGet("/dashboard.css", Handler(http =>
        {
            Secure(http);
            return Results.Bytes(Styles.Value, "text/css; charset=utf-8");
        }));
    }

    // A lambda taking only HttpContext would bind as a RequestDelegate and drop its IResult: type it as a Func.
    private static Func<HttpContext, IResult> Handler(Func<HttpContext, IResult> handler) => handler;

    private static void Secure(HttpContext http)
    {
        var headers = http.Response.Headers;
        headers.ContentSecurityPolicy = ContentSecurityPolicy;
        headers.XContentTypeOptions = "nosniff";
        headers.XFrameOptions = "DENY";
        headers["Referrer-Policy"] = "no-referrer";
        headers.CacheControl = "no-store";
    }

    private static string Read(string name)
    {
        using var stream = typeof(OutboxDashboard).Assembly.GetManifestResourceStream($"Outbox.AspNetCore.Dashboard.{name}")
            ?? throw new InvalidOperationException($"The dashboard resource {name} is missing from {typeof(OutboxDashboard).Assembly.GetName().Name}.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
