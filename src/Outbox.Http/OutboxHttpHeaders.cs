namespace Outbox.Http;

/// <summary>
/// Header names specific to the HTTP transport. The message's own headers travel under the names of
/// <see cref="OutboxHeaders"/> (<c>outbox-message-id</c>, <c>outbox-message-type</c>, <c>outbox-partition-key</c>,
/// <c>outbox-sequence</c>, <c>outbox-attempt</c>, <c>traceparent</c>), the content type as <c>Content-Type</c>, user
/// headers under their own names.
/// </summary>
public static class OutboxHttpHeaders
{
    /// <summary>
    /// The comma-separated names of the headers whose values were percent-encoded (UTF-8) because they held characters
    /// an HTTP header cannot carry (outside printable ASCII). The receiving endpoint decodes them.
    /// </summary>
    public const string EncodedHeaders = "outbox-encoded-headers";
}
