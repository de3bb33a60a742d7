using System.ComponentModel.DataAnnotations;

namespace Outbox.Http;

/// <summary>
/// Options of one consumer's HTTP inbox endpoint, named by the consumer name, bound from
/// <c>Outbox:Http:Inbox:{consumer}</c> and validated at start-up.
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
}
