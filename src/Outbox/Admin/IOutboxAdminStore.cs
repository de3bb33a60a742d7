namespace Outbox;

/// <summary>
/// Operator access to the outbox tables: browse what waits and what died, read one message, move dead letters back
/// into the outbox, purge them. Implemented by the store packages (<c>UsePostgreSql</c>, <c>UseSqlite</c>) and used by
/// the admin API of Outbox.AspNetCore. Every list is a keyset page in position order; every value travels as a
/// parameter.
/// </summary>
public interface IOutboxAdminStore
{
    /// <summary>Lists messages waiting in the outbox (ready, leased or scheduled), one page at a time.</summary>
    /// <exception cref="ArgumentException"><paramref name="query"/> is not valid (see <see cref="OutboxAdminQuery.Validate"/>).</exception>
    Task<OutboxAdminPage<OutboxAdminMessage>> ListPendingAsync(OutboxAdminQuery query, CancellationToken cancellationToken);

    /// <summary>Lists dead letters, one page at a time; the time range applies to when they were dead-lettered.</summary>
    /// <exception cref="ArgumentException"><paramref name="query"/> is not valid (see <see cref="OutboxAdminQuery.Validate"/>).</exception>
    Task<OutboxAdminPage<OutboxAdminMessage>> ListDeadLettersAsync(OutboxAdminQuery query, CancellationToken cancellationToken);

    /// <summary>Reads one waiting message with its headers and payload, or <see langword="null"/> when no row has that position.</summary>
    Task<OutboxAdminMessage?> GetPendingAsync(long position, CancellationToken cancellationToken);

    /// <summary>Reads one dead letter with its headers and payload, or <see langword="null"/> when no dead letter has that id.</summary>
    Task<OutboxAdminMessage?> GetDeadLetterAsync(long id, CancellationToken cancellationToken);

    /// <summary>
    /// Moves dead letters back into the outbox, all in one transaction: each keeps its message id, partition key and
    /// sequence number (so the per-key order rules apply to it again), gets a new position, zero attempts, no error
    /// and the database's now as its published time, and is dispatched like a new message. Ids that are not (or no
    /// longer) dead letters are reported in <see cref="OutboxRequeueResult.NotFound"/>.
    /// </summary>
    /// <exception cref="ArgumentException">More than <see cref="OutboxAdminQuery.MaxBatchSize"/> ids, or an id below 1.</exception>
    Task<OutboxRequeueResult> RequeueDeadLettersAsync(IReadOnlyCollection<long> ids, CancellationToken cancellationToken);

    /// <summary>Deletes the dead letters with these ids; returns how many were deleted.</summary>
    /// <exception cref="ArgumentException">More than <see cref="OutboxAdminQuery.MaxBatchSize"/> ids, or an id below 1.</exception>
    Task<int> PurgeDeadLettersAsync(IReadOnlyCollection<long> ids, CancellationToken cancellationToken);

    /// <summary>Deletes every dead letter dead-lettered before <paramref name="deadLetteredBefore"/>; returns how many were deleted.</summary>
    Task<int> PurgeDeadLettersBeforeAsync(DateTimeOffset deadLetteredBefore, CancellationToken cancellationToken);
}
