using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Outbox.Http.Tests.Transport;

/// <summary>URL resolution and header mapping, without a network.</summary>
public sealed class HttpTransportUnitTests
{
    [Fact]
    public void UrlOf_DestinationMapped_UsesTheMap()
    {
        var transport = Transport(o => o.Destinations["orders"] = new Uri("http://payments:8080/inbox/payments"));
        Assert.Equal(new Uri("http://payments:8080/inbox/payments"), transport.UrlOf(Message("orders")));
    }

    [Theory]
    [InlineData("http://hub:8080/inbox", "http://hub:8080/inbox/a%20b%2Fc")]
    [InlineData("http://hub:8080/inbox/", "http://hub:8080/inbox/a%20b%2Fc")]
    public void UrlOf_BaseAddress_AppendsTheEscapedDestination(string baseAddress, string expected)
    {
        var transport = Transport(o => o.BaseAddress = new Uri(baseAddress));
        Assert.Equal(expected, transport.UrlOf(Message("a b/c")).AbsoluteUri);
    }

    [Fact]
    public void UrlOf_UrlForReturnsNull_FallsBackToTheMap()
    {
        var transport = Transport(o =>
        {
            o.UrlFor = m => m.MessageType == "special" ? new Uri("http://special/") : null;
            o.Destinations["orders"] = new Uri("http://map/");
        });
        Assert.Equal(new Uri("http://map/"), transport.UrlOf(Message("orders")));
        Assert.Equal(new Uri("http://special/"), transport.UrlOf(Message("orders", "special")));
    }

    [Fact]
    public void UrlOf_NoRoute_IsPermanent()
    {
        var transport = Transport(o => o.Destinations["orders"] = new Uri("http://map/"));
        var error = Assert.Throws<PermanentDeliveryException>(() => transport.UrlOf(Message("refunds")));
        Assert.Contains("Outbox:Http:Destinations:refunds", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ToRequest_UserHeadersAndNonAsciiValues_RoundTripThroughTheReceiverMapping()
    {
        var message = Message("orders");
        using var request = HttpMessageMapper.ToRequest(message, new Uri("http://x/"));
        var http = new Microsoft.AspNetCore.Http.DefaultHttpContext();
        foreach (var (name, values) in request.Headers)
        {
            http.Request.Headers[name] = values.ToArray();
        }

        http.Request.ContentType = request.Content!.Headers.ContentType!.ToString();
        var incoming = HttpMessageMapper.ToIncoming(http.Request, message.Payload);

        Assert.Equal(message.MessageId.ToString("D"), incoming.MessageId);
        Assert.Equal("Shop.OrderPlaced", incoming.MessageType);
        Assert.Equal("Zoë 1", incoming.PartitionKey);
        Assert.Equal(42, incoming.SequenceNumber);
        Assert.Equal("ça va", incoming.Headers["x-tenant"]);
        Assert.Equal("plain", incoming.Headers["x-plain"]);
        Assert.Equal("application/json", incoming.ContentType);
        Assert.True(incoming.Redelivered);
        Assert.Equal("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", incoming.TraceParent);
    }

    [Theory]
    [InlineData("Content-Type")]
    [InlineData("bad header")]
    public void ToRequest_HeaderThatCannotTravel_IsPermanent(string name)
    {
        var message = Message("orders", headers: new Dictionary<string, string> { [name] = "v" });
        Assert.Throws<PermanentDeliveryException>(() => HttpMessageMapper.ToRequest(message, new Uri("http://x/")).Dispose());
    }

    [Fact]
    public void Validate_NoRoute_Fails()
    {
        var result = new HttpTransportOptionsValidator().Validate(null, new HttpTransportOptions());
        Assert.True(result.Failed);
    }

    [Fact]
    public void Validate_RelativeOrNonHttpUrl_Fails()
    {
        var options = new HttpTransportOptions();
        options.Destinations["a"] = new Uri("ftp://x/");
        options.Destinations["b"] = new Uri("/relative", UriKind.Relative);
        var result = new HttpTransportOptionsValidator().Validate(null, options);
        Assert.True(result.Failed);
        Assert.Equal(2, result.Failures!.Count());
    }

    private static HttpTransport Transport(Action<HttpTransportOptions> configure)
    {
        var options = new HttpTransportOptions();
        configure(options);
        return new HttpTransport(new NoClients(), Options.Create(options), NullLogger<HttpTransport>.Instance);
    }

    private static OutboxMessage Message(string destination, string type = "Shop.OrderPlaced", Dictionary<string, string>? headers = null) => new()
    {
        Position = 1,
        MessageId = Guid.CreateVersion7(),
        Destination = destination,
        MessageType = type,
        PartitionKey = "Zoë 1",
        SequenceNumber = 42,
        Payload = "{}"u8.ToArray(),
        ContentType = "application/json",
        Headers = headers ?? new Dictionary<string, string> { ["x-tenant"] = "ça va", ["x-plain"] = "plain" },
        TraceParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        Attempt = 2,
    };

    private sealed class NoClients : IHttpClientFactory
    {
        public HttpClient CreateClient(string name) => throw new NotSupportedException();
    }
}
