using System.Security.Cryptography;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Outbox.Http;

/// <summary>
/// The receiving side of <see cref="HttpRequestSignature"/>, in two steps so that a request is refused before its body
/// is read when its headers already fail: <see cref="Begin"/> checks that the three signature headers are there, that
/// the key id is one the consumer holds and that the timestamp is within <see cref="HttpInboxOptions.SignatureTolerance"/>
/// of now; <see cref="Pending.Verify"/> then checks the HMAC once the body's SHA-256 is known.
/// </summary>
internal static class HttpSignatureVerifier
{
    public static Pending? Begin(HttpRequest request, HttpInboxOptions settings, DateTimeOffset now, out string failure)
    {
        var keyId = Single(request, OutboxHttpHeaders.SignatureKeyId);
        var timestamp = Single(request, OutboxHttpHeaders.SignatureTimestamp);
        var signature = Single(request, OutboxHttpHeaders.Signature);
        if (keyId is null || timestamp is null || signature is null)
        {
            failure = $"The request is not signed: it needs the headers {OutboxHttpHeaders.SignatureKeyId}, {OutboxHttpHeaders.SignatureTimestamp} and {OutboxHttpHeaders.Signature}.";
            return null;
        }

        if (!settings.SigningKeys.TryGetValue(keyId, out var encoded) || HttpRequestSignature.DecodeSecret(encoded) is not { } secret)
        {
            failure = "The request is signed with a key id this endpoint does not hold.";
            return null;
        }

        if (!HttpRequestSignature.TryParseTimestamp(timestamp, out var signedAt))
        {
            failure = $"The {OutboxHttpHeaders.SignatureTimestamp} header is not a Unix time in seconds.";
            return null;
        }

        if ((now - signedAt).Duration() > settings.SignatureTolerance)
        {
            failure = $"The request was signed at {signedAt:O}, outside this endpoint's window of {settings.SignatureTolerance} around its clock ({now:O}).";
            return null;
        }

        failure = "";
        return new Pending(keyId, timestamp, signature, secret);
    }

    /// <summary>
    /// The path the sender signed: the request target exactly as it came on the wire, without its query (what
    /// <c>Uri.AbsolutePath</c> gave the sender); when the server does not expose it, the path base and path re-escaped.
    /// </summary>
    public static string PathOf(HttpRequest request)
    {
        var raw = request.HttpContext.Features.Get<IHttpRequestFeature>()?.RawTarget;
        if (raw is { Length: > 0 } && raw[0] == '/')
        {
            var query = raw.IndexOf('?', StringComparison.Ordinal);
            return query < 0 ? raw : raw[..query];
        }

        return request.PathBase.Add(request.Path).ToUriComponent();
    }

    private static string? Single(HttpRequest request, string name) =>
        request.Headers.TryGetValue(name, out var values) && values.Count == 1 && !string.IsNullOrEmpty(values[0]) ? values[0] : null;

    /// <summary>A request whose signature headers passed; the HMAC is checked once the body is read.</summary>
    internal sealed class Pending(string keyId, string timestamp, string signature, byte[] secret)
    {
        public string KeyId { get; } = keyId;

        public bool Verify(HttpRequest request, ReadOnlySpan<byte> bodySha256)
        {
            try
            {
                var idHeader = HttpBatchFormat.IsBatch(request.ContentType) ? OutboxHttpHeaders.BatchId : OutboxHeaders.MessageId;
                var messageId = request.Headers.TryGetValue(idHeader, out var id) && id.Count > 0 ? id[0] ?? "" : "";
                return HttpRequestSignature.Verify(
                    signature, secret, request.Method, PathOf(request), timestamp, messageId, request.ContentType ?? "", bodySha256);
            }
            finally
            {
                CryptographicOperations.ZeroMemory(secret);
            }
        }
    }
}
