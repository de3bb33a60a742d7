namespace Outbox;

/// <summary>
/// One tenant database's store as its dispatcher sees it: the provider's store, with every claimed message marked with
/// the tenant (<see cref="OutboxMessage.TenantId"/>, sent as the <c>outbox-tenant</c> header).
/// </summary>
internal sealed class OutboxTenantStore(string tenantId, IOutboxStore inner) : IOutboxStore
{
    public async Task<IReadOnlyList<OutboxMessage>> ClaimAsync(Guid owner, int batchSize, TimeSpan leaseDuration, CancellationToken cancellationToken)
    {
        var claimed = await inner.ClaimAsync(owner, batchSize, leaseDuration, cancellationToken).ConfigureAwait(false);
        if (claimed.Count == 0)
        {
            return claimed;
        }

        var marked = new OutboxMessage[claimed.Count];
        for (var i = 0; i < marked.Length; i++)
        {
            marked[i] = claimed[i].WithTenant(tenantId);
        }

        return marked;
    }

    public Task AcknowledgeAsync(Guid owner, IReadOnlyCollection<long> positions, CancellationToken cancellationToken) =>
        inner.AcknowledgeAsync(owner, positions, cancellationToken);

    public Task ReleaseAsync(Guid owner, IReadOnlyList<OutboxRelease> releases, CancellationToken cancellationToken) =>
        inner.ReleaseAsync(owner, releases, cancellationToken);

    public Task DeadLetterAsync(Guid owner, IReadOnlyList<OutboxDeadLetter> deadLetters, CancellationToken cancellationToken) =>
        inner.DeadLetterAsync(owner, deadLetters, cancellationToken);

    public Task<long> GetLastPositionAsync(CancellationToken cancellationToken) => inner.GetLastPositionAsync(cancellationToken);

    public Task<long> CountUndeliveredAsync(long upToPosition, CancellationToken cancellationToken) =>
        inner.CountUndeliveredAsync(upToPosition, cancellationToken);
}
