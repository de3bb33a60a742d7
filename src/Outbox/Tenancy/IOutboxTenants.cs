namespace Outbox;

/// <summary>
/// The tenants of a database-per-tenant outbox, as its dispatcher runs them: resolve it (keyed by the outbox name, or
/// without a key for the default outbox) to list them or to read <see cref="IOutboxDatabaseSource"/> again at once.
/// </summary>
public interface IOutboxTenants
{
    /// <summary>The outbox name.</summary>
    string OutboxName { get; }

    /// <summary>The tenants running now, by tenant id.</summary>
    IReadOnlyList<OutboxTenantStatus> Tenants { get; }

    /// <summary>
    /// Reads <see cref="IOutboxDatabaseSource"/> now and starts or stops tenants to match (for example right after a
    /// tenant was provisioned). Returns once the new tenants' dispatchers have started and the removed ones have stopped.
    /// </summary>
    /// <exception cref="InvalidOperationException">The outbox's dispatcher is not running, or the source failed (the message says why).</exception>
    Task RefreshAsync(CancellationToken cancellationToken = default);
}

/// <summary>One tenant of a database-per-tenant outbox.</summary>
/// <param name="TenantId">The tenant id.</param>
/// <param name="StartedAt">When its dispatcher started.</param>
/// <param name="LastClaimAt">When one of its loops last completed a claim (reached its database); <see langword="null"/> before the first.</param>
/// <param name="LastFailureAt">When a claim or write of its loops last failed; <see langword="null"/> when none did.</param>
/// <param name="LastFailure">That failure's type and message.</param>
/// <param name="Backlog">Its last backlog reading (the outbox's backlog monitor reads every tenant), if any.</param>
public sealed record OutboxTenantStatus(
    string TenantId,
    DateTimeOffset StartedAt,
    DateTimeOffset? LastClaimAt,
    DateTimeOffset? LastFailureAt,
    string? LastFailure,
    OutboxBacklog? Backlog)
{
    /// <summary>
    /// How many of its dispatcher loops are running: 1, and more (up to <see cref="OutboxTenantOptions.ConcurrencyPerTenant"/>)
    /// while its claims come back full.
    /// </summary>
    public int Loops { get; init; }

    /// <summary>Whether its database answered since its last failure (or it never failed).</summary>
    public bool Reachable => LastFailureAt is not { } failed || (LastClaimAt is { } claimed && claimed > failed);
}
