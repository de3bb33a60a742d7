using System.Text;
using System.Text.Json;

namespace Outbox.Tests.Serialization;

public sealed class SystemTextJsonMessageSerializerTests
{
    private sealed record Sample(Guid Id, string Name, decimal Amount);

    [Fact]
    public void Serialize_ThenDeserialize_RoundTripsWithWebNaming()
    {
        var serializer = SystemTextJsonMessageSerializer.Default;
        var sample = new Sample(Guid.NewGuid(), "x", 12.5m);
        var bytes = serializer.Serialize(sample, typeof(Sample));
        Assert.Contains("\"name\":\"x\"", Encoding.UTF8.GetString(bytes), StringComparison.Ordinal);
        Assert.Equal(sample, serializer.Deserialize(bytes, typeof(Sample)));
        Assert.Equal("application/json", serializer.ContentType);
    }

    [Fact]
    public void Deserialize_MalformedPayload_Throws() =>
        Assert.ThrowsAny<JsonException>(() => SystemTextJsonMessageSerializer.Default.Deserialize("{not json"u8.ToArray(), typeof(Sample)));

    [Fact]
    public void Deserialize_NullLiteral_ThrowsInsteadOfReturningNull() =>
        Assert.Throws<JsonException>(() => SystemTextJsonMessageSerializer.Default.Deserialize("null"u8.ToArray(), typeof(Sample)));
}
