using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Outbox.AspNetCore;

/// <summary>
/// The outbox an admin request is about: the <c>outbox</c> query parameter, else the default one (the outbox of
/// <c>AddOutbox()</c>, or the only outbox of the host).
/// </summary>
internal static class OutboxAdminTarget
{
    public const string QueryParameter = "outbox";

    /// <summary>The query parameter naming the tenant of a database-per-tenant outbox.</summary>
    public const string TenantParameter = "tenant";

    /// <summary>The outbox of <paramref name="http"/>'s request.</summary>
    /// <exception cref="UnknownOutboxException">The request names an outbox the host does not have, or names none when it must.</exception>
    public static OutboxInstance Of(HttpContext http)
    {
        var services = http.RequestServices;
        var outboxes = services.GetServices<OutboxInstance>().ToList();
        var asked = http.Request.Query[QueryParameter].ToString();
        if (asked.Length > 0)
        {
            return outboxes.Find(o => o.Name == asked)
                ?? throw new UnknownOutboxException($"This host has no outbox '{asked}'; it has: {Names(outboxes)}.");
        }

        return DefaultOf(services)
            ?? (outboxes.Count == 0
                ? new OutboxInstance(OutboxInstance.DefaultName)
                : throw new UnknownOutboxException($"This host has several outboxes and no default one: add ?{QueryParameter}=<name>, one of {Names(outboxes)}."));
    }

    /// <summary>The outbox used when a request names none, or <see langword="null"/> when the host has several and no default.</summary>
    public static OutboxInstance? DefaultOf(IServiceProvider services)
    {
        var outboxes = services.GetServices<OutboxInstance>().ToList();
        return outboxes.Find(static o => o.IsDefault) ?? (outboxes.Count == 1 ? outboxes[0] : null);
    }

    private static string Names(List<OutboxInstance> outboxes) =>
        outboxes.Count == 0 ? "none" : string.Join(", ", outboxes.Select(static o => $"'{o.Name}'"));

    /// <summary>The request's outbox does not exist (answered 404 with this message).</summary>
    internal sealed class UnknownOutboxException(string message) : Exception(message);
}
