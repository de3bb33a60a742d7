using System.Security.Cryptography;

namespace Outbox.Http;

/// <summary>The sending side of <see cref="HttpRequestSignature"/>: the keys by destination, decoded once, and the headers they add.</summary>
internal sealed class HttpRequestSigner
{
    private const string AnyDestination = "*";

    private readonly Dictionary<string, (string KeyId, byte[] Secret)> _keys = new(StringComparer.Ordinal);

    public HttpRequestSigner(HttpTransportOptions options)
    {
        foreach (var (destination, key) in options.SigningKeys)
        {
            // Validated at start-up; a key that does not decode here was added after validation and is skipped.
            if (key is not null && HttpRequestSignature.DecodeSecret(key.Secret) is { } secret)
            {
                _keys[destination] = (key.KeyId, secret);
            }
        }
    }

    /// <summary>
    /// Signs <paramref name="request"/> (its URL, method, content type and <paramref name="body"/>) for
    /// <paramref name="destination"/> at <paramref name="now"/>, when the destination has a key; returns whether it did.
    /// </summary>
    public bool TrySign(HttpRequestMessage request, string destination, string messageId, ReadOnlySpan<byte> body, DateTimeOffset now)
    {
        if (!_keys.TryGetValue(destination, out var key) && !_keys.TryGetValue(AnyDestination, out key))
        {
            return false;
        }

        Span<byte> bodyHash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(body, bodyHash);
        var timestamp = HttpRequestSignature.FormatTimestamp(now);
        var contentType = request.Content?.Headers.ContentType?.ToString() ?? "";
        var signature = HttpRequestSignature.Sign(
            key.Secret, request.Method.Method, request.RequestUri!.AbsolutePath, timestamp, messageId, contentType, bodyHash);
        request.Headers.TryAddWithoutValidation(OutboxHttpHeaders.SignatureKeyId, key.KeyId);
        request.Headers.TryAddWithoutValidation(OutboxHttpHeaders.SignatureTimestamp, timestamp);
        request.Headers.TryAddWithoutValidation(OutboxHttpHeaders.Signature, signature);
        return true;
    }
}
