namespace Outbox;

/// <summary>
/// The tenant of the current DI scope, for a DbContext that connects to the tenant's database: a scoped service. The
/// inbox sets it from the message's <c>outbox-tenant</c> header before it resolves the consumer's context (so the
/// inbox row and the handler's writes commit in the tenant's database, in one transaction); a tenant dispatcher sets it
/// in the scopes it creates; an application sets it per request with <see cref="Use(OutboxDatabase)"/>. Register the context with
/// <c>AddDbContext&lt;TContext&gt;((sp, o) =&gt; o.UseNpgsql(sp.GetRequiredService&lt;OutboxTenantContext&gt;().ConnectionString).UseOutbox(sp))</c>.
/// </summary>
public sealed class OutboxTenantContext
{
    /// <summary>The tenant id, or <see langword="null"/> when the scope has no tenant (a message without the header, start-up checks).</summary>
    public string? TenantId { get; private set; }

    /// <summary>
    /// The tenant database's connection string, or <see langword="null"/> when the scope has no tenant or the tenant is
    /// not listed by the <see cref="IOutboxDatabaseSource"/> (a DbContext given <see langword="null"/> fails when it
    /// first connects, and the inbox retries the message like any database failure).
    /// </summary>
    public string? ConnectionString { get; private set; }

    /// <summary>Makes <paramref name="database"/> the scope's tenant.</summary>
    /// <exception cref="InvalidOperationException">The scope already has another tenant.</exception>
    public void Use(OutboxDatabase database)
    {
        ArgumentNullException.ThrowIfNull(database);
        Use(database.TenantId, database.ConnectionString);
    }

    /// <summary>Makes tenant <paramref name="tenantId"/> the scope's tenant, with its connection string if known.</summary>
    internal void Use(string tenantId, string? connectionString)
    {
        if (TenantId is not null && TenantId != tenantId)
        {
            throw new InvalidOperationException(
                $"This scope already belongs to tenant '{TenantId}'; a context resolved in it connects to that tenant's database, so it cannot switch to '{tenantId}'. Create a scope per tenant.");
        }

        TenantId = tenantId;
        ConnectionString = connectionString;
    }
}
