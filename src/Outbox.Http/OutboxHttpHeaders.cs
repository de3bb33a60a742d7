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

    /// <summary>The id of the key the request is signed with (<see cref="HttpSigningKey.KeyId"/>).</summary>
    public const string SignatureKeyId = "outbox-signature-key-id";

    /// <summary>When the request was signed, in Unix seconds; the receiver refuses it outside its window.</summary>
    public const string SignatureTimestamp = "outbox-signature-timestamp";

    /// <summary>
    /// The request's signature: <c>v1=</c> followed by the base64 HMAC-SHA256, keyed by the shared secret, of
    /// <c>v1\n{METHOD}\n{path}\n{timestamp}\n{outbox-message-id}\n{Content-Type}\n{lower-case hex SHA-256 of the body}</c>
    /// (the path as sent on the wire, escaped, without the query; an absent header as an empty line). A batch request
    /// signs its <see cref="BatchId"/> in place of the message id.
    /// </summary>
    public const string Signature = "outbox-signature";

    /// <summary>
    /// The id of a request carrying several messages (<c>Content-Type: application/vnd.outbox.batch+json</c>), a new
    /// GUID per request, signed in place of a message id; each message's own id travels in the body.
    /// </summary>
    public const string BatchId = "outbox-batch-id";

    /// <summary>
    /// Sent by the inbox endpoint on its answers once a request is authenticated: the endpoint takes several messages
    /// per request. The HTTP transport sends batches to a URL only after an answer from it carried this header, so a
    /// receiver that does not know batches (a webhook, an older version) is never sent one.
    /// </summary>
    public const string AcceptsBatches = "outbox-accepts-batches";
}
