using System.ComponentModel.DataAnnotations;

namespace Outbox.Http;

/// <summary>
/// Where and how the HTTP transport posts outbox messages. Bound from <c>Outbox:Http</c> and validated at start-up.
/// A message's URL is, in this order: <see cref="UrlFor"/> when it returns one, the <see cref="Destinations"/> entry of
/// the message's destination, or <see cref="BaseAddress"/> followed by the destination as a path segment. A message
/// with no URL is dead-lettered with the reason.
/// </summary>
public sealed class HttpTransportOptions
{
    /// <summary>The configuration section these options bind from.</summary>
    public const string SectionName = "Outbox:Http";

    /// <summary>
    /// The name of the <see cref="HttpClient"/> the transport sends with. Add handlers to it (authentication, a
    /// certificate) with <c>services.AddHttpClient(HttpTransportOptions.HttpClientName)</c>.
    /// </summary>
    public const string HttpClientName = "Outbox.Http";

    /// <summary>
    /// The URL each destination is posted to, by destination name (the <c>PublishOptions.Destination</c> of the
    /// message, which defaults to its type name), for example <c>"orders" → http://payments:8080/inbox/payments</c>.
    /// In configuration: <c>Outbox:Http:Destinations:orders = http://payments:8080/inbox/payments</c>.
    /// </summary>
    public IDictionary<string, Uri> Destinations { get; } = new Dictionary<string, Uri>(StringComparer.Ordinal);

    /// <summary>
    /// The address that a destination without an entry in <see cref="Destinations"/> is appended to (as one escaped
    /// path segment): with <c>http://hub:8080/inbox/</c>, destination <c>orders</c> goes to
    /// <c>http://hub:8080/inbox/orders</c>.
    /// <value>The default value is <see langword="null"/>: only <see cref="Destinations"/> and <see cref="UrlFor"/> route.</value>
    /// </summary>
    public Uri? BaseAddress { get; set; }

    /// <summary>
    /// Picks the URL of a message in code; return <see langword="null"/> to fall back to <see cref="Destinations"/> and
    /// <see cref="BaseAddress"/>.
    /// <value>The default value is <see langword="null"/>.</value>
    /// </summary>
    public Func<OutboxMessage, Uri?>? UrlFor { get; set; }

    /// <summary>
    /// The largest payload the transport posts, in bytes. A larger message is rejected with a
    /// <see cref="PermanentDeliveryException"/> and dead-lettered with the reason. Keep it at or below the receiver's
    /// limit (<see cref="HttpInboxOptions.MaxRequestBodySize"/>), which answers 413 (also a dead letter) above it.
    /// <value>The default value is 4 MiB.</value>
    /// </summary>
    [Range(1, 512 * 1024 * 1024)]
    public int MaxMessageSize { get; set; } = 4 * 1024 * 1024;

    /// <summary>
    /// The most messages one request carries. When the dispatcher has claimed several messages for one destination and
    /// URL, they go together in one POST (<c>application/vnd.outbox.batch+json</c>, signed as one request), and the
    /// receiver answers an outcome per message; only messages already claimed go together, a batch never waits to
    /// fill. 1 turns batching off: one POST per message, as a receiver of a library version without batches needs.
    /// <value>The default value is 100.</value>
    /// </summary>
    [Range(1, HttpBatchFormat.MaxMessages)]
    public int MaxBatchMessages { get; set; } = 100;

    /// <summary>
    /// The largest body of a request carrying several messages, in bytes (payloads count in base64, a third larger);
    /// a batch that would grow past it is split, and a message that alone is larger goes in a POST of its own. Keep it
    /// at or below the receiver's <see cref="HttpInboxOptions.MaxRequestBodySize"/>; a receiver answering 413 to a
    /// batch gets its messages one per POST.
    /// <value>The default value is 1 MiB.</value>
    /// </summary>
    [Range(1024, 512 * 1024 * 1024)]
    public int MaxBatchBytes { get; set; } = 1024 * 1024;

    /// <summary>
    /// The key each destination's requests are signed with, by destination name; the entry <c>*</c> serves every
    /// destination without an entry of its own. In configuration:
    /// <c>Outbox:Http:SigningKeys:{destination}:KeyId</c> and <c>...:Secret</c> (base64, at least 32 bytes). Each request
    /// then carries <see cref="OutboxHttpHeaders.SignatureKeyId"/>, <see cref="OutboxHttpHeaders.SignatureTimestamp"/>
    /// and <see cref="OutboxHttpHeaders.Signature"/> (HMAC-SHA256 over method, path, timestamp, message id, content type
    /// and body), signed afresh at each attempt. A destination with no key is posted unsigned, which the library's
    /// inbox refuses unless it relies on an authorization policy instead. The receiver answering 401 or 403 (a key it
    /// does not hold, a clock too far off) is an endpoint failure: retried with backoff and counted by that
    /// destination's circuit breaker, not a dead letter.
    /// <value>The default value is empty: requests are not signed.</value>
    /// </summary>
    public IDictionary<string, HttpSigningKey> SigningKeys { get; } = new Dictionary<string, HttpSigningKey>(StringComparer.Ordinal);
}
