namespace Outbox.EntityFrameworkCore;

/// <summary>
/// A row of the outbox table, as mapped by <c>modelBuilder.AddOutbox()</c>. Rows are added by
/// <c>DbContext.Publish</c> and removed by the dispatcher once delivered; do not update them yourself.
/// </summary>
public sealed class OutboxRecord
{
    /// <summary>The position: an identity column giving write order. Column <c>id</c>.</summary>
    public long Id { get; set; }

    /// <summary>The message id. Column <c>message_id</c>.</summary>
    public Guid MessageId { get; set; }

    /// <summary>The destination. Column <c>destination</c>.</summary>
    public string Destination { get; set; } = "";

    /// <summary>The logical message type. Column <c>message_type</c>.</summary>
    public string MessageType { get; set; } = "";

    /// <summary>The partition key, or <see langword="null"/>. Column <c>partition_key</c>.</summary>
    public string? PartitionKey { get; set; }

    /// <summary>The number of the message within its partition key (1, 2, 3, ...), assigned in the publishing transaction. Column <c>sequence_number</c>.</summary>
    public long? SequenceNumber { get; set; }

    /// <summary>The serialized payload. Column <c>payload</c>.</summary>
    public byte[] Payload { get; set; } = [];

    /// <summary>The payload's content type. Column <c>content_type</c>.</summary>
    public string ContentType { get; set; } = "";

    /// <summary>User headers as a JSON object, or <see langword="null"/> when there are none. Column <c>headers</c>.</summary>
    public string? Headers { get; set; }

    /// <summary>The W3C traceparent of the publisher. Column <c>trace_parent</c>.</summary>
    public string? TraceParent { get; set; }

    /// <summary>
    /// When the message was published (UTC): the publishing process's clock (<see cref="TimeProvider"/>) at
    /// <c>Publish</c>, the one stored time of the outbox that is not the database's. Informational: it feeds the
    /// backlog's oldest age, the delivery latency and the admin API's time filter, and decides nothing (claim order,
    /// availability, leases and retries use the position and the database clock). Column <c>created_at</c>.
    /// </summary>
    public DateTime CreatedAt { get; set; }

    /// <summary>Not dispatched before this instant (UTC, compared with the database clock); <see langword="null"/> = at once. Column <c>available_at</c>.</summary>
    public DateTime? AvailableAt { get; set; }

    /// <summary>How many times the row was claimed. Column <c>attempts</c>.</summary>
    public int Attempts { get; set; }

    /// <summary>The last delivery error. Column <c>last_error</c>.</summary>
    public string? LastError { get; set; }

    /// <summary>The dispatcher loop holding the lease. Column <c>lease_owner</c>.</summary>
    public Guid? LeaseOwner { get; set; }

    /// <summary>When the lease ends (database clock). Column <c>lease_expires_at</c>.</summary>
    public DateTime? LeaseExpiresAt { get; set; }
}
