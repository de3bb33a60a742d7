using System.ComponentModel.DataAnnotations;

namespace Outbox;

/// <summary>
/// Options of a database-per-tenant outbox, bound from <c>Outbox:Tenants</c> (or <c>Outbox:Outboxes:{name}:Tenants</c>
/// for a named outbox) and validated at start-up.
/// </summary>
public sealed class OutboxTenantOptions
{
    /// <summary>The configuration section of the default outbox's tenant options.</summary>
    public const string SectionName = "Outbox:Tenants";

    /// <summary>How often <see cref="IOutboxDatabaseSource"/> is read again (tenants added and removed while running).</summary>
    /// <value>The default value is 30 seconds.</value>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan RefreshInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Dispatcher loops per tenant database. Each loop holds at most one connection to its tenant's database while it
    /// claims or acknowledges, so a server with many tenant databases sees about this many busy connections per tenant.
    /// </summary>
    /// <value>The default value is 1: a tenant's messages keep their order, and 50 tenants use about 50 connections.</value>
    [Range(1, 64)]
    public int ConcurrencyPerTenant { get; set; } = 1;

    /// <summary>
    /// How many tenants carry their own id in the <c>outbox.tenant</c> metric tag; tenants started after that many are
    /// tagged <c>other</c>, so the number of metric series stays bounded. 0 leaves the tag off metrics (logs, traces
    /// and the admin API still name the tenant).
    /// </summary>
    /// <value>The default value is 100.</value>
    [Range(0, 100_000)]
    public int MetricTenantLimit { get; set; } = 100;

    /// <summary>The configuration section of the tenant options named <paramref name="optionsName"/>.</summary>
    internal static string SectionOf(string? optionsName) =>
        string.IsNullOrEmpty(optionsName) ? SectionName : $"{OutboxInstance.OutboxesSection}:{optionsName}:Tenants";
}
