using System.Text.RegularExpressions;

namespace Outbox;

/// <summary>One tenant database of a database-per-tenant outbox.</summary>
public sealed partial record OutboxDatabase
{
    /// <summary>Creates the entry of tenant <paramref name="tenantId"/>.</summary>
    /// <exception cref="ArgumentException">
    /// <paramref name="tenantId"/> is not 1 to 128 letters, digits, '.', '-' or '_', or <paramref name="connectionString"/> is empty.
    /// </exception>
    public OutboxDatabase(string tenantId, string connectionString)
    {
        ArgumentNullException.ThrowIfNull(tenantId);
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        if (!TenantIdPattern().IsMatch(tenantId))
        {
            throw new ArgumentException(
                $"The tenant id '{tenantId}' is not valid: use 1 to 128 letters, digits, '.', '-' or '_' (it travels in the outbox-tenant header and names the tenant in metrics and logs).",
                nameof(tenantId));
        }

        TenantId = tenantId;
        ConnectionString = connectionString;
    }

    /// <summary>The tenant id: the <c>outbox-tenant</c> header of its messages and the <c>outbox.tenant</c> of its telemetry.</summary>
    public string TenantId { get; }

    /// <summary>The connection string of the tenant's database (the one its DbContext publishes through).</summary>
    public string ConnectionString { get; }

    /// <summary>The tenant id only: a connection string may hold a password.</summary>
    public override string ToString() => TenantId;

    [GeneratedRegex("^[A-Za-z0-9._-]{1,128}$", RegexOptions.CultureInvariant)]
    private static partial Regex TenantIdPattern();
}
