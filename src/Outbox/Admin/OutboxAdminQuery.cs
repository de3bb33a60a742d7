namespace Outbox;

/// <summary>
/// One page of an admin listing: a keyset cursor, a page size and optional filters. Filters are exact matches; the
/// time range is half open (<see cref="From"/> included, <see cref="To"/> excluded).
/// </summary>
public sealed record OutboxAdminQuery
{
    /// <summary>The largest page a listing returns.</summary>
    public const int MaxPageSize = 500;

    /// <summary>The page size when none is given.</summary>
    public const int DefaultPageSize = 50;

    /// <summary>The most ids one requeue or purge call takes.</summary>
    public const int MaxBatchSize = 1000;

    /// <summary>
    /// The cursor: only rows after this id (before it when <see cref="Descending"/>) are listed. Pass the previous page's
    /// <see cref="OutboxAdminPage{T}.Next"/>.
    /// <value>The default value is <see langword="null"/>: the first page.</value>
    /// </summary>
    public long? After { get; init; }

    /// <summary>
    /// Whether to list the newest rows first.
    /// <value>The default value is <see langword="false"/>: oldest (lowest position) first.</value>
    /// </summary>
    public bool Descending { get; init; }

    /// <summary>
    /// How many rows a page holds, 1 to <see cref="MaxPageSize"/>.
    /// <value>The default value is 50.</value>
    /// </summary>
    public int PageSize { get; init; } = DefaultPageSize;

    /// <summary>Only messages of this logical type. <value>The default value is <see langword="null"/>: any.</value></summary>
    public string? MessageType { get; init; }

    /// <summary>Only messages for this destination. <value>The default value is <see langword="null"/>: any.</value></summary>
    public string? Destination { get; init; }

    /// <summary>Only messages with this partition key. <value>The default value is <see langword="null"/>: any.</value></summary>
    public string? PartitionKey { get; init; }

    /// <summary>
    /// Only messages at or after this instant: the published time for waiting messages, the dead-letter time for dead
    /// letters. <value>The default value is <see langword="null"/>: no lower bound.</value>
    /// </summary>
    public DateTimeOffset? From { get; init; }

    /// <summary>Only messages before this instant (see <see cref="From"/>). <value>The default value is <see langword="null"/>: no upper bound.</value></summary>
    public DateTimeOffset? To { get; init; }

    /// <summary>Throws when the query cannot be run; the exception's parameter name is the offending property.</summary>
    /// <exception cref="ArgumentException">The page size, cursor or time range is out of range.</exception>
    public void Validate()
    {
        if (PageSize is < 1 or > MaxPageSize)
        {
            throw new ArgumentOutOfRangeException(nameof(PageSize), PageSize, $"{nameof(PageSize)} must be between 1 and {MaxPageSize}.");
        }

        if (After is < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(After), After, $"{nameof(After)} must not be negative.");
        }

        if (From is { } from && To is { } to && from > to)
        {
            throw new ArgumentException($"{nameof(From)} ({from:O}) must not be after {nameof(To)} ({to:O}).", nameof(From));
        }
    }

    /// <summary>Throws when a requeue or purge call gets too many ids or an invalid one.</summary>
    /// <exception cref="ArgumentException">More than <see cref="MaxBatchSize"/> ids, or an id below 1.</exception>
    public static void ValidateIds(IReadOnlyCollection<long> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        if (ids.Count > MaxBatchSize)
        {
            throw new ArgumentException($"At most {MaxBatchSize} ids per call (got {ids.Count}).", nameof(ids));
        }

        foreach (var id in ids)
        {
            if (id < 1)
            {
                throw new ArgumentException($"Ids are positive (got {id}).", nameof(ids));
            }
        }
    }
}

/// <summary>One page of an admin listing.</summary>
/// <typeparam name="T">The row type.</typeparam>
/// <param name="Items">The rows, in the order asked for.</param>
/// <param name="Next">The cursor of the next page (<see cref="OutboxAdminQuery.After"/>), or <see langword="null"/> when this is the last page.</param>
public sealed record OutboxAdminPage<T>(IReadOnlyList<T> Items, long? Next);

/// <summary>What a requeue did.</summary>
/// <param name="Requeued">The dead letters moved back into the outbox, in id order.</param>
/// <param name="NotFound">The ids that were not dead letters (never were, or already requeued or purged).</param>
public sealed record OutboxRequeueResult(IReadOnlyList<OutboxRequeued> Requeued, IReadOnlyList<long> NotFound);

/// <summary>A dead letter moved back into the outbox.</summary>
/// <param name="DeadLetterId">Its id in the dead-letter table (its old position).</param>
/// <param name="Position">Its new position in the outbox.</param>
/// <param name="MessageId">Its message id, unchanged.</param>
public readonly record struct OutboxRequeued(long DeadLetterId, long Position, Guid MessageId);
