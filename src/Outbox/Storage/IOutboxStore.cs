namespace Outbox;

/// <summary>
/// The dispatcher's view of the outbox table. Implementations run each operation as one short statement (or one
/// short transaction) and use the database clock for every time they compare or write.
/// </summary>
/// <remarks>
/// Every mutating call is fenced by <c>owner</c>: it only touches rows whose lease that owner still holds, so a
/// dispatcher whose lease expired cannot delete or reschedule a row another dispatcher has since claimed.
/// </remarks>
public interface IOutboxStore
{
    /// <summary>
    /// Claims up to <paramref name="batchSize"/> rows that are available (their deliver-after time has passed) and
    /// not leased (or whose lease expired), in position order, skipping rows other claimers hold. Sets the lease
    /// owner and expiry (database now + <paramref name="leaseDuration"/>) and increments the attempt count.
    /// A row whose payload is above <see cref="OutboxDispatcherOptions.MaxPayloadSize"/> comes back with its
    /// <see cref="OutboxMessage.PayloadSize"/> and without its payload, to be dead-lettered unsent. A store whose every
    /// write rewrites the whole row (SQLite) may hand such a row out without writing its lease, provided one claimer of
    /// the process gets it at a time and <see cref="DeadLetterAsync"/> still moves it once, and only while nobody else
    /// holds a live lease on it.
    /// </summary>
    Task<IReadOnlyList<OutboxMessage>> ClaimAsync(Guid owner, int batchSize, TimeSpan leaseDuration, CancellationToken cancellationToken);

    /// <summary>Deletes delivered rows that <paramref name="owner"/> still leases.</summary>
    Task AcknowledgeAsync(Guid owner, IReadOnlyCollection<long> positions, CancellationToken cancellationToken);

    /// <summary>
    /// Gives leased rows back: clears the lease, makes them available again after each one's delay (database clock),
    /// stores the error, and refunds the attempt when the message was not really attempted.
    /// </summary>
    Task ReleaseAsync(Guid owner, IReadOnlyList<OutboxRelease> releases, CancellationToken cancellationToken);

    /// <summary>
    /// Moves leased rows (and rows above the payload limit handed out without a lease, see <see cref="ClaimAsync"/>) to
    /// the dead-letter table with their reason, in one transaction.
    /// </summary>
    Task DeadLetterAsync(Guid owner, IReadOnlyList<OutboxDeadLetter> deadLetters, CancellationToken cancellationToken);

    /// <summary>The highest position written so far, or 0 when the table is empty.</summary>
    Task<long> GetLastPositionAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Counts rows at or below <paramref name="upToPosition"/> still waiting for an outcome (delivery or dead letter),
    /// leaving out rows that were never attempted and are scheduled for later.
    /// </summary>
    Task<long> CountUndeliveredAsync(long upToPosition, CancellationToken cancellationToken);
}

/// <summary>A leased row given back to the outbox.</summary>
/// <param name="Position">The row's position.</param>
/// <param name="Delay">How long from the database's now before the row may be claimed again.</param>
/// <param name="Error">The error to store as the row's last error; <see langword="null"/> keeps the previous one.</param>
/// <param name="RefundAttempt"><see langword="true"/> when the message was not really attempted (shutdown, open circuit).</param>
public readonly record struct OutboxRelease(long Position, TimeSpan Delay, string? Error, bool RefundAttempt);

/// <summary>A leased row to move to the dead-letter table.</summary>
/// <param name="Position">The row's position.</param>
/// <param name="Reason">Why it is dead: the last error, or the rule that stopped it.</param>
public readonly record struct OutboxDeadLetter(long Position, string Reason);
