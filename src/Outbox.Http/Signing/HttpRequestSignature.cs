using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Outbox.Http;

/// <summary>
/// Version 1 of the request signature, the primitive both sides share: HMAC-SHA256, keyed by the shared secret, over
/// the canonical text <c>v1\n{METHOD}\n{path}\n{timestamp}\n{message id}\n{content type}\n{hex SHA-256 of the body}</c>.
/// The signature travels as <c>v1=</c> + base64 in <see cref="OutboxHttpHeaders.Signature"/>, the key id in
/// <see cref="OutboxHttpHeaders.SignatureKeyId"/>, the timestamp (Unix seconds) in
/// <see cref="OutboxHttpHeaders.SignatureTimestamp"/>. What is signed names no message in particular beyond its id, so
/// a batch of messages can be signed the same way with the batch's id.
/// </summary>
internal static class HttpRequestSignature
{
    public const string Version = "v1";

    /// <summary>The shortest secret accepted, in bytes once decoded.</summary>
    public const int MinimumSecretLength = 32;

    private const string Prefix = Version + "=";

    /// <summary>Decodes a base64 secret; <see langword="null"/> when it is not base64 or shorter than <see cref="MinimumSecretLength"/>.</summary>
    public static byte[]? DecodeSecret(string? secret)
    {
        if (string.IsNullOrWhiteSpace(secret))
        {
            return null;
        }

        try
        {
            var bytes = Convert.FromBase64String(secret.Trim());
            return bytes.Length >= MinimumSecretLength ? bytes : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }

    public static string FormatTimestamp(DateTimeOffset time) => time.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);

    public static bool TryParseTimestamp(string? value, out DateTimeOffset time)
    {
        time = default;
        if (!long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds)
            || seconds > DateTimeOffset.MaxValue.ToUnixTimeSeconds())
        {
            return false;
        }

        time = DateTimeOffset.FromUnixTimeSeconds(seconds);
        return true;
    }

    /// <summary>The header value: <c>v1=</c> + base64 of the HMAC-SHA256 of the canonical text.</summary>
    public static string Sign(ReadOnlySpan<byte> secret, string method, string path, string timestamp, string messageId, string contentType, ReadOnlySpan<byte> bodySha256)
    {
        Span<byte> mac = stackalloc byte[HMACSHA256.HashSizeInBytes];
        Compute(secret, method, path, timestamp, messageId, contentType, bodySha256, mac);
        return Prefix + Convert.ToBase64String(mac);
    }

    /// <summary>
    /// Whether <paramref name="signature"/> (the header value) is the signature of the request with
    /// <paramref name="secret"/>, compared in constant time.
    /// </summary>
    public static bool Verify(string signature, ReadOnlySpan<byte> secret, string method, string path, string timestamp, string messageId, string contentType, ReadOnlySpan<byte> bodySha256)
    {
        if (!signature.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return false;
        }

        Span<byte> given = stackalloc byte[HMACSHA256.HashSizeInBytes];
        if (signature.Length > Prefix.Length + 64
            || !Convert.TryFromBase64Chars(signature.AsSpan(Prefix.Length), given, out var written)
            || written != given.Length)
        {
            return false;
        }

        Span<byte> expected = stackalloc byte[HMACSHA256.HashSizeInBytes];
        Compute(secret, method, path, timestamp, messageId, contentType, bodySha256, expected);
        return CryptographicOperations.FixedTimeEquals(given, expected);
    }

    /// <summary>The canonical text that is signed (exposed for tests and for other senders' implementations).</summary>
    public static string Canonical(string method, string path, string timestamp, string messageId, string contentType, ReadOnlySpan<byte> bodySha256) =>
        string.Join('\n', Version, method.ToUpperInvariant(), path, timestamp, messageId, contentType, Convert.ToHexStringLower(bodySha256));

    private static void Compute(ReadOnlySpan<byte> secret, string method, string path, string timestamp, string messageId, string contentType, ReadOnlySpan<byte> bodySha256, Span<byte> destination)
    {
        var canonical = Encoding.UTF8.GetBytes(Canonical(method, path, timestamp, messageId, contentType, bodySha256));
        HMACSHA256.HashData(secret, canonical, destination);
    }
}
