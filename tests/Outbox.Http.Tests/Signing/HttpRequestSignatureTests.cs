using System.Security.Cryptography;
using System.Text;
using Outbox.Http.Tests.Infrastructure;

namespace Outbox.Http.Tests.Signing;

/// <summary>The signing primitive and the sender's signer, without a network.</summary>
public sealed class HttpRequestSignatureTests
{
    private static readonly byte[] Secret = Convert.FromBase64String(Apps.Secret);

    [Fact]
    public void Sign_KnownInput_IsTheHmacSha256OfTheCanonicalText()
    {
        var bodyHash = SHA256.HashData("{}"u8);

        var signature = HttpRequestSignature.Sign(Secret, "post", "/inbox/payments", "1796000000", "01938a4e-0000-7000-8000-000000000001", "application/json", bodyHash);

        // Recomputed here from the documented canonical form, with the framework's HMAC, independently of the code under test.
        var canonical = "v1\nPOST\n/inbox/payments\n1796000000\n01938a4e-0000-7000-8000-000000000001\napplication/json\n" + Convert.ToHexStringLower(bodyHash);
        Assert.Equal("v1=" + Convert.ToBase64String(HMACSHA256.HashData(Secret, Encoding.UTF8.GetBytes(canonical))), signature);
    }

    [Fact]
    public void Verify_EachSignedPartChanged_Fails()
    {
        var hash = SHA256.HashData("{}"u8);
        var signature = HttpRequestSignature.Sign(Secret, "POST", "/inbox/a", "100", "id", "application/json", hash);

        Assert.True(HttpRequestSignature.Verify(signature, Secret, "POST", "/inbox/a", "100", "id", "application/json", hash));
        Assert.False(HttpRequestSignature.Verify(signature, Convert.FromBase64String(Apps.OtherSecret), "POST", "/inbox/a", "100", "id", "application/json", hash));
        Assert.False(HttpRequestSignature.Verify(signature, Secret, "PUT", "/inbox/a", "100", "id", "application/json", hash));
        Assert.False(HttpRequestSignature.Verify(signature, Secret, "POST", "/inbox/b", "100", "id", "application/json", hash));
        Assert.False(HttpRequestSignature.Verify(signature, Secret, "POST", "/inbox/a", "101", "id", "application/json", hash));
        Assert.False(HttpRequestSignature.Verify(signature, Secret, "POST", "/inbox/a", "100", "other", "application/json", hash));
        Assert.False(HttpRequestSignature.Verify(signature, Secret, "POST", "/inbox/a", "100", "id", "text/plain", hash));
        Assert.False(HttpRequestSignature.Verify(signature, Secret, "POST", "/inbox/a", "100", "id", "application/json", SHA256.HashData("[]"u8)));
    }

    [Theory]
    [InlineData("")]
    [InlineData("v1=")]
    [InlineData("v2=AAAA")]
    [InlineData("v1=not base64")]
    [InlineData("v1=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    public void Verify_MalformedSignature_FailsWithoutThrowing(string signature)
    {
        Assert.False(HttpRequestSignature.Verify(signature, Secret, "POST", "/", "1", "id", "", SHA256.HashData([])));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("c2hvcnQ=")]
    [InlineData("%%%")]
    public void DecodeSecret_MissingShortOrNotBase64_IsNull(string? secret)
    {
        Assert.Null(HttpRequestSignature.DecodeSecret(secret));
    }

    [Fact]
    public void TrySign_DestinationWithoutKey_FallsBackToStarOrLeavesTheRequestUnsigned()
    {
        var options = new HttpTransportOptions();
        options.SigningKeys["orders"] = new HttpSigningKey { KeyId = "orders-1", Secret = Apps.Secret };
        var signer = new HttpRequestSigner(options);
        using var unsigned = new HttpRequestMessage(HttpMethod.Post, "http://x/inbox/refunds");
        Assert.False(signer.TrySign(unsigned, "refunds", "id", [], DateTimeOffset.UtcNow));
        Assert.False(unsigned.Headers.Contains(OutboxHttpHeaders.Signature));

        options.SigningKeys["*"] = new HttpSigningKey { KeyId = "any-1", Secret = Apps.OtherSecret };
        signer = new HttpRequestSigner(options);
        using var byStar = new HttpRequestMessage(HttpMethod.Post, "http://x/inbox/refunds");
        using var byOwn = new HttpRequestMessage(HttpMethod.Post, "http://x/inbox/orders");
        Assert.True(signer.TrySign(byStar, "refunds", "id", [], DateTimeOffset.FromUnixTimeSeconds(1_796_000_000)));
        Assert.True(signer.TrySign(byOwn, "orders", "id", [], DateTimeOffset.UtcNow));
        Assert.Equal("any-1", byStar.Headers.GetValues(OutboxHttpHeaders.SignatureKeyId).Single());
        Assert.Equal("1796000000", byStar.Headers.GetValues(OutboxHttpHeaders.SignatureTimestamp).Single());
        Assert.Equal("orders-1", byOwn.Headers.GetValues(OutboxHttpHeaders.SignatureKeyId).Single());
    }

    [Fact]
    public void ValidateTransport_MalformedSigningKey_FailsNamingTheKeys()
    {
        var options = new HttpTransportOptions();
        options.Destinations["orders"] = new Uri("http://x/");
        options.SigningKeys["orders"] = new HttpSigningKey { KeyId = "has space", Secret = "c2hvcnQ=" };

        var result = new HttpTransportOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        Assert.Contains("Outbox:Http:SigningKeys:orders:KeyId", result.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("Outbox:Http:SigningKeys:orders:Secret", result.FailureMessage, StringComparison.Ordinal);
    }
}
