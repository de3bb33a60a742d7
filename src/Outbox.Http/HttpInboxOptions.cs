using System.ComponentModel.DataAnnotations;

namespace Outbox.Http;

/// <summary>
/// Options of one consumer's HTTP inbox endpoint, named by the consumer name, bound from
/// <c>Outbox:Http:Inbox:{consumer}</c> and validated at start-up. The endpoint is closed by default: each consumer needs
/// <see cref="SigningKeys"/> (signed deliveries, what the HTTP transport sends), an <see cref="AuthorizationPolicy"/>, or
/// both; with neither, start-up fails unless <see cref="AllowUnauthenticated"/> is set on purpose.
/// </summary>
public sealed class HttpInboxOptions
{
    /// <summary>The configuration section under which each consumer's options bind, by consumer name.</summary>
    public const string SectionName = "Outbox:Http:Inbox";

    /// <summary>
    /// The largest request body the endpoint accepts, in bytes; a larger one is answered 413 (the sender dead-letters
    /// it) without reaching the inbox.
    /// <value>The default value is 4 MiB.</value>
    /// </summary>
    [Range(1, 512 * 1024 * 1024)]
    public long MaxRequestBodySize { get; set; } = 4 * 1024 * 1024;

    /// <summary>
    /// The <c>Retry-After</c> the endpoint answers with its 503 when the inbox could not record an outcome (the
    /// database is down) or the host is stopping: when the sender should try again, at the earliest.
    /// <value>The default value is 5 seconds.</value>
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan RetryAfter { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The secrets this consumer accepts signed requests with, by key id (base64, at least 32 bytes once decoded): in
    /// configuration <c>Outbox:Http:Inbox:{consumer}:SigningKeys:{keyId} = {secret}</c>. A request must carry a valid
    /// signature by one of them (headers <see cref="OutboxHttpHeaders.SignatureKeyId"/>,
    /// <see cref="OutboxHttpHeaders.SignatureTimestamp"/>, <see cref="OutboxHttpHeaders.Signature"/>), made within
    /// <see cref="SignatureTolerance"/>, or it is answered 401 and nothing is written. To rotate, add the new key here,
    /// move the senders to it, then remove the old one. Keep real secrets out of appsettings (environment, a secret store).
    /// <value>The default value is empty: no signature is required (then an <see cref="AuthorizationPolicy"/> must be).</value>
    /// </summary>
    public IDictionary<string, string> SigningKeys { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>
    /// How far a signed request's timestamp may be from this host's clock, either way. An older request is refused
    /// (401) even with a valid signature, which bounds how long a captured request can be replayed; a replay within the
    /// window is absorbed by the inbox as a duplicate. Allow for clock skew and for the sender's
    /// <c>OutboxDispatcherOptions.SendTimeout</c>.
    /// <value>The default value is 5 minutes.</value>
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan SignatureTolerance { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// The name of an authorization policy (<c>services.AddAuthorization(o => o.AddPolicy(name, ...))</c>) each request
    /// must satisfy, checked before anything else: 401 for no or failed authentication, 403 for a refused one (mutual
    /// TLS, a bearer token, ...). With <see cref="SigningKeys"/> too, a request needs both.
    /// <value>The default value is <see langword="null"/>: no policy.</value>
    /// </summary>
    public string? AuthorizationPolicy { get; set; }

    /// <summary>
    /// Accepts requests with neither a signature nor an authorization policy: anyone who can reach the endpoint can
    /// post messages to this consumer. For local experiments only; logged as a warning when the inbox is mapped.
    /// Setting it together with <see cref="SigningKeys"/> or <see cref="AuthorizationPolicy"/> fails start-up.
    /// <value>The default value is <see langword="false"/>.</value>
    /// </summary>
    public bool AllowUnauthenticated { get; set; }
}
