namespace Outbox.Http;

/// <summary>
/// The key a sender signs its requests to one destination with (<see cref="HttpTransportOptions.SigningKeys"/>): an id
/// the receiver looks the secret up by, and the shared secret itself. In configuration:
/// <c>Outbox:Http:SigningKeys:{destination}:KeyId</c> and <c>Outbox:Http:SigningKeys:{destination}:Secret</c>.
/// </summary>
public sealed class HttpSigningKey
{
    /// <summary>
    /// The key id sent in <see cref="OutboxHttpHeaders.SignatureKeyId"/>; the receiver must hold a secret under the same
    /// id (<see cref="HttpInboxOptions.SigningKeys"/>). A new id per key lets keys rotate without downtime.
    /// <value>The default value is an empty string (invalid: validation at start-up asks for one).</value>
    /// </summary>
    public string KeyId { get; set; } = "";

    /// <summary>
    /// The shared secret, base64-encoded, at least 32 bytes (256 bits) once decoded; for example the output of
    /// <c>openssl rand -base64 32</c>. Keep it out of source control (environment, a secret store).
    /// <value>The default value is an empty string (invalid: validation at start-up asks for one).</value>
    /// </summary>
    public string Secret { get; set; } = "";
}
