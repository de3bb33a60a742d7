namespace Outbox;

/// <summary>
/// Per-message options for publishing through the outbox. Every property is optional.
/// </summary>
public sealed class PublishOptions
{
    /// <summary>
    /// Where the message goes (exchange, queue, URL: the transport decides).
    /// <value>The default value is the message type name.</value>
    /// </summary>
    public string? Destination { get; set; }

    /// <summary>
    /// The logical type name consumers dispatch on.
    /// <value>The default value is the CLR type's full name.</value>
    /// </summary>
    public string? MessageType { get; set; }

    /// <summary>
    /// Messages that share a partition key (an order id, a customer id) are kept in write order.
    /// <value>The default value is <see langword="null"/>: no ordering constraint.</value>
    /// </summary>
    public string? PartitionKey { get; set; }

    /// <summary>
    /// The message id. Consumers de-duplicate on it, so give it when a retrying caller must not publish twice.
    /// <value>The default value is a new time-ordered (version 7) <see cref="Guid"/>.</value>
    /// </summary>
    public Guid? MessageId { get; set; }

    /// <summary>
    /// The message is not dispatched before this instant. It is compared with the database clock.
    /// <value>The default value is <see langword="null"/>: deliver as soon as the transaction commits.</value>
    /// </summary>
    public DateTimeOffset? DeliverAfter { get; set; }

    /// <summary>Headers carried with the message. Names starting with <c>outbox-</c> are reserved.</summary>
    public IDictionary<string, string> Headers { get; } = new Dictionary<string, string>(StringComparer.Ordinal);
}
