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
    /// The most dispatcher loops one tenant database gets. Every tenant runs one loop; while its claims come back full
    /// (a backlog) loops are added up to this many, each stopping at its first empty claim. So a quiet tenant costs one
    /// loop's polling and one busy connection, and a tenant with a backlog drains like an ordinary outbox with as many
    /// <see cref="OutboxDispatcherOptions.Concurrency"/> loops. Messages with a partition key keep their order whatever
    /// the number, as in an ordinary outbox.
    /// </summary>
    /// <value>The default value is 2, the default of <see cref="OutboxDispatcherOptions.Concurrency"/>.</value>
    [Range(1, 64)]
    public int ConcurrencyPerTenant { get; set; } = 2;

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
