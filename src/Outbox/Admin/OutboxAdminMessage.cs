namespace Outbox;

/// <summary>Where a message stands, as an admin listing shows it.</summary>
public enum OutboxAdminMessageState
{
    /// <summary>In the outbox and claimable now (never tried, or waiting for nothing).</summary>
    Ready,

    /// <summary>In the outbox, claimed by a dispatcher whose lease has not expired: being sent.</summary>
    Leased,

    /// <summary>In the outbox, not claimable before <see cref="OutboxAdminMessage.AvailableAt"/> (deliver-after, or a retry's backoff).</summary>
    Scheduled,

    /// <summary>In the dead-letter table.</summary>
    DeadLettered,
}

/// <summary>
/// A message as the admin store shows it. Listings leave <see cref="Headers"/>, <see cref="TraceParent"/> and
/// <see cref="Payload"/> out; reading one message fills them in.
/// </summary>
public sealed record OutboxAdminMessage
{
    /// <summary>The position (outbox) or the dead-letter id (its old position).</summary>
    public required long Id { get; init; }

    /// <summary>Where the message stands.</summary>
    public required OutboxAdminMessageState State { get; init; }

    /// <summary>The message id.</summary>
    public required Guid MessageId { get; init; }

    /// <summary>The destination.</summary>
    public required string Destination { get; init; }

    /// <summary>The logical message type.</summary>
    public required string MessageType { get; init; }

    /// <summary>The partition key, or <see langword="null"/>.</summary>
    public string? PartitionKey { get; init; }

    /// <summary>The number of the message within its partition key, or <see langword="null"/>.</summary>
    public long? SequenceNumber { get; init; }

    /// <summary>The payload's content type.</summary>
    public required string ContentType { get; init; }

    /// <summary>The payload's size in bytes.</summary>
    public long PayloadLength { get; init; }

    /// <summary>When the message was published.</summary>
    public DateTimeOffset CreatedAt { get; init; }

    /// <summary>How many times it was claimed.</summary>
    public int Attempts { get; init; }

    /// <summary>Waiting messages: the last delivery error. Dead letters: why the message was dead-lettered.</summary>
    public string? Error { get; init; }

    /// <summary>Waiting messages: not claimable before this instant, or <see langword="null"/>.</summary>
    public DateTimeOffset? AvailableAt { get; init; }

    /// <summary>Waiting messages: when the current lease ends, or <see langword="null"/>.</summary>
    public DateTimeOffset? LeaseExpiresAt { get; init; }

    /// <summary>Dead letters: when the message was dead-lettered.</summary>
    public DateTimeOffset? DeadLetteredAt { get; init; }

    /// <summary>User headers (reading one message only).</summary>
    public IReadOnlyDictionary<string, string>? Headers { get; init; }

    /// <summary>The publisher's W3C traceparent (reading one message only).</summary>
    public string? TraceParent { get; init; }

    /// <summary>The payload (reading one message only).</summary>
    public OutboxAdminPayload? Payload { get; init; }
}

/// <summary>A payload made fit to show: text when the content type is textual and the bytes are valid UTF-8, else base64.</summary>
/// <param name="Encoding"><c>"utf-8"</c> when <paramref name="Data"/> is the text itself, <c>"base64"</c> otherwise.</param>
/// <param name="Data">The payload as text, or base64.</param>
/// <param name="Length">The payload's size in bytes.</param>
public sealed record OutboxAdminPayload(string Encoding, string Data, long Length)
{
    /// <summary>The <see cref="Encoding"/> of a payload shown as text.</summary>
    public const string Utf8 = "utf-8";

    /// <summary>The <see cref="Encoding"/> of a payload shown as base64.</summary>
    public const string Base64 = "base64";

    private static readonly System.Text.UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Shows <paramref name="payload"/> as text when <paramref name="contentType"/> is textual and it decodes, else as base64.</summary>
    public static OutboxAdminPayload From(byte[] payload, string? contentType)
    {
        ArgumentNullException.ThrowIfNull(payload);
        if (IsTextual(contentType))
        {
            try
            {
                return new OutboxAdminPayload(Utf8, StrictUtf8.GetString(payload), payload.Length);
            }
            catch (System.Text.DecoderFallbackException)
            {
                // Declared textual but not UTF-8: show the bytes.
            }
        }

        return new OutboxAdminPayload(Base64, Convert.ToBase64String(payload), payload.Length);
    }

    /// <summary>
    /// Whether a content type is text: <c>text/*</c>, JSON, XML (<c>+json</c>, <c>+xml</c> suffixes included),
    /// form-encoded, YAML, JavaScript. A charset other than UTF-8 (or US-ASCII) makes it binary.
    /// </summary>
    public static bool IsTextual(string? contentType)
    {
        if (string.IsNullOrWhiteSpace(contentType))
        {
            return false;
        }

        var parts = contentType.Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0)
        {
            return false;
        }

        foreach (var parameter in parts.AsSpan(1))
        {
            if (parameter.StartsWith("charset=", StringComparison.OrdinalIgnoreCase))
            {
                var charset = parameter["charset=".Length..].Trim('"');
                if (!charset.Equals("utf-8", StringComparison.OrdinalIgnoreCase) && !charset.Equals("utf8", StringComparison.OrdinalIgnoreCase)
                    && !charset.Equals("us-ascii", StringComparison.OrdinalIgnoreCase))
                {
                    return false;
                }
            }
        }

        var media = parts[0];
        return media.StartsWith("text/", StringComparison.OrdinalIgnoreCase)
            || media.EndsWith("+json", StringComparison.OrdinalIgnoreCase)
            || media.EndsWith("+xml", StringComparison.OrdinalIgnoreCase)
            || media.Equals("application/json", StringComparison.OrdinalIgnoreCase)
            || media.Equals("application/xml", StringComparison.OrdinalIgnoreCase)
            || media.Equals("application/x-www-form-urlencoded", StringComparison.OrdinalIgnoreCase)
            || media.Equals("application/yaml", StringComparison.OrdinalIgnoreCase)
            || media.Equals("application/x-yaml", StringComparison.OrdinalIgnoreCase)
            || media.Equals("application/javascript", StringComparison.OrdinalIgnoreCase);
    }
}
