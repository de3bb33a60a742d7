namespace Outbox;

/// <summary>
/// Operator access to the inbox dead letters of the consumers in this process's database: browse them, read one,
/// purge them. Implemented by Outbox.EntityFrameworkCore for a DbContext whose model calls <c>modelBuilder.AddInbox()</c>.
/// </summary>
/// <remarks>
/// Received messages are not requeued from here: they came from a broker. To have one processed again, requeue the
/// publisher's outbox dead letter (if it died there) or republish it, then purge the inbox dead letter.
/// </remarks>
public interface IInboxAdminStore
{
    /// <summary>
    /// Whether the inbox tables exist in the model this store reads (the DbContext maps <c>AddInbox()</c>). When
    /// <see langword="false"/>, listings are empty and purges delete nothing.
    /// </summary>
    Task<bool> IsAvailableAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Lists inbox dead letters one page at a time, of one consumer or all; the time range applies to when they were
    /// dead-lettered, and <see cref="OutboxAdminQuery.Destination"/> is ignored (received messages have none).
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="query"/> is not valid (see <see cref="OutboxAdminQuery.Validate"/>).</exception>
    Task<OutboxAdminPage<InboxAdminDeadLetter>> ListDeadLettersAsync(OutboxAdminQuery query, string? consumer, CancellationToken cancellationToken);

    /// <summary>Reads one inbox dead letter with its headers and payload, or <see langword="null"/>.</summary>
    Task<InboxAdminDeadLetter?> GetDeadLetterAsync(long id, CancellationToken cancellationToken);

    /// <summary>
    /// Deletes the inbox dead letters with these ids, and the inbox's "already handled" marker of each, so that the same
    /// message published again (after a fix) is processed rather than skipped; returns how many were deleted.
    /// </summary>
    /// <exception cref="ArgumentException">More than <see cref="OutboxAdminQuery.MaxBatchSize"/> ids, or an id below 1.</exception>
    Task<int> PurgeDeadLettersAsync(IReadOnlyCollection<long> ids, CancellationToken cancellationToken);

    /// <summary>Deletes every inbox dead letter dead-lettered before <paramref name="deadLetteredBefore"/>; returns how many were deleted.</summary>
    /// <remarks>The inbox markers of these messages stay until the inbox retention cleanup removes them.</remarks>
    Task<int> PurgeDeadLettersBeforeAsync(DateTimeOffset deadLetteredBefore, CancellationToken cancellationToken);
}

/// <summary>
/// A received message a consumer gave up on. Listings leave <see cref="Headers"/>, <see cref="TraceParent"/> and
/// <see cref="Payload"/> out; reading one fills them in.
/// </summary>
public sealed record InboxAdminDeadLetter
{
    /// <summary>The dead letter's id.</summary>
    public required long Id { get; init; }

    /// <summary>The consumer that dead-lettered it.</summary>
    public required string Consumer { get; init; }

    /// <summary>The message id as received (text: it may be missing or malformed).</summary>
    public string? MessageId { get; init; }

    /// <summary>The logical message type as received.</summary>
    public string? MessageType { get; init; }

    /// <summary>The partition key.</summary>
    public string? PartitionKey { get; init; }

    /// <summary>The payload's content type.</summary>
    public string? ContentType { get; init; }

    /// <summary>The payload's size in bytes.</summary>
    public long PayloadLength { get; init; }

    /// <summary>Why it was dead-lettered.</summary>
    public required string Reason { get; init; }

    /// <summary>How many times the handler was tried (0 for a poison message).</summary>
    public int Attempts { get; init; }

    /// <summary>When the consumer first received it.</summary>
    public DateTimeOffset? ReceivedAt { get; init; }

    /// <summary>When it was dead-lettered.</summary>
    public DateTimeOffset DeadLetteredAt { get; init; }

    /// <summary>Every header received (reading one only).</summary>
    public IReadOnlyDictionary<string, string>? Headers { get; init; }

    /// <summary>The W3C traceparent received (reading one only).</summary>
    public string? TraceParent { get; init; }

    /// <summary>The payload (reading one only).</summary>
    public OutboxAdminPayload? Payload { get; init; }
}
