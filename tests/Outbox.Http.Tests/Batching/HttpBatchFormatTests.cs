using System.Text;

namespace Outbox.Http.Tests.Batching;

/// <summary>The batch format both ways, and how the transport groups messages into batches, without a network.</summary>
public sealed class HttpBatchFormatTests
{
    private static readonly Uri A = new("http://a/inbox/x");
    private static readonly Uri B = new("http://b/inbox/x");

    [Fact]
    public void WriteRequest_ReadRequest_EveryFieldArrivesAsSent()
    {
        var message = Message("to-a", payload: "{\"text\":\"ça va\"}", headers: new Dictionary<string, string> { ["x-tenant"] = "Zoë" });

        var incoming = Assert.Single(HttpBatchFormat.ReadRequest(HttpBatchFormat.WriteRequest([message], ["00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"]), out var error)!);

        Assert.Equal("", error);
        Assert.Equal(message.MessageId.ToString("D"), incoming.MessageId);
        Assert.Equal(message.MessageType, incoming.MessageType);
        Assert.Equal("клиент-7", incoming.PartitionKey);
        Assert.Equal(42, incoming.SequenceNumber);
        Assert.True(incoming.Redelivered);
        Assert.Equal("application/json", incoming.ContentType);
        Assert.Equal("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", incoming.TraceParent);
        Assert.Equal("Zoë", incoming.Headers["x-tenant"]);
        Assert.Equal(message.MessageId.ToString("D"), incoming.Headers[OutboxHeaders.MessageId]);
        Assert.Equal(message.Payload.ToArray(), incoming.Payload.ToArray());
    }

    [Fact]
    public void ReadRequest_ReservedHeaderNameInTheBody_IsNotTakenAsAUserHeader()
    {
        var body = Encoding.UTF8.GetBytes("""{"messages":[{"id":"7d8e0f2a-0000-0000-0000-000000000001","type":"t","headers":{"outbox-message-id":"forged"},"payload":""}]}""");

        var incoming = Assert.Single(HttpBatchFormat.ReadRequest(body, out _)!);

        Assert.Equal("7d8e0f2a-0000-0000-0000-000000000001", incoming.Headers[OutboxHeaders.MessageId]);
    }

    [Fact]
    public void WriteResults_ReadResults_RoundTripAndAWrongCountIsRefused()
    {
        HttpBatchResult[] results = [new("1", HttpBatchOutcome.Accepted, null), new("2", HttpBatchOutcome.Rejected, "full"), new("3", HttpBatchOutcome.Retry, "later")];
        var body = HttpBatchFormat.WriteResults(results);

        Assert.Equal(results, HttpBatchFormat.ReadResults(body, 3));
        Assert.Null(HttpBatchFormat.ReadResults(body, 2));
        Assert.Null(HttpBatchFormat.ReadResults(Encoding.UTF8.GetBytes("""{"results":[{"outcome":"maybe"}]}"""), 1));
    }

    [Fact]
    public void Split_ReceiverNotKnownToTakeBatches_EachMessageGoesAlone()
    {
        var transport = Transport(o => o.UrlFor = _ => A);

        var groups = transport.Split([Message("to-a"), Message("to-a"), Message("to-a")]);

        Assert.Equal([1, 1, 1], groups.Select(g => g.Count));
    }

    [Fact]
    public void Split_ByUrlAndMaxBatchMessages_InClaimOrder()
    {
        var transport = Transport(o =>
        {
            o.UrlFor = m => m.MessageType == "to-a" ? A : B;
            o.MaxBatchMessages = 2;
        });
        transport.RememberTakesBatches(A);
        transport.RememberTakesBatches(B);
        var messages = new[] { Message("to-a"), Message("to-b"), Message("to-a"), Message("to-a"), Message("to-a"), Message("to-a") };

        var groups = transport.Split(messages);

        Assert.Equal(messages.Length, groups.Sum(g => g.Count));
        Assert.Equal(
            [[messages[0], messages[2]], [messages[1]], [messages[3], messages[4]], [messages[5]]],
            groups.OrderBy(g => Array.IndexOf(messages, g[0])).Select(g => g.ToArray()).ToArray());
    }

    [Fact]
    public void Split_ByMaxBatchBytes_ALargerMessageGoesAloneAndTheOthersStayUnderTheLimit()
    {
        var small = Enumerable.Range(0, 5).Select(_ => Message("to-a", payload: new string('x', 600))).ToArray();
        var size = HttpBatchFormat.EstimatedSize(small[0]);
        var transport = Transport(o =>
        {
            o.UrlFor = _ => A;
            o.MaxBatchBytes = (int)(2 * size) + 100;
        });
        transport.RememberTakesBatches(A);
        var large = Message("to-a", payload: new string('y', 4 * (int)size));

        var groups = transport.Split([.. small, large]);

        Assert.Contains(groups, g => g.Count == 1 && g[0] == large);
        Assert.All(groups.Where(g => g.Count > 1), g => Assert.True(g.Sum(HttpBatchFormat.EstimatedSize) <= 2 * size + 100));
        Assert.Equal([2, 2, 1], groups.Where(g => g[0] != large).Select(g => g.Count));
    }

    [Fact]
    public void Split_BatchingOff_EachMessageGoesAlone()
    {
        var transport = Transport(o =>
        {
            o.UrlFor = _ => A;
            o.MaxBatchMessages = 1;
        });
        transport.RememberTakesBatches(A);

        Assert.All(transport.Split([Message("to-a"), Message("to-a")]), g => Assert.Single(g));
    }

    private static HttpTransport Transport(Action<HttpTransportOptions> configure)
    {
        var options = new HttpTransportOptions();
        configure(options);
        return new HttpTransport(new NoClients(), Microsoft.Extensions.Options.Options.Create(options), Microsoft.Extensions.Logging.Abstractions.NullLogger<HttpTransport>.Instance);
    }

    private static OutboxMessage Message(string type, string payload = "{}", Dictionary<string, string>? headers = null) => new()
    {
        Position = 1,
        MessageId = Guid.CreateVersion7(),
        Destination = "d",
        MessageType = type,
        PartitionKey = "клиент-7",
        SequenceNumber = 42,
        Payload = Encoding.UTF8.GetBytes(payload),
        ContentType = "application/json",
        Headers = headers ?? new Dictionary<string, string>(),
        Attempt = 2,
    };

    private sealed class NoClients : IHttpClientFactory
    {
        public HttpClient CreateClient(string name) => throw new NotSupportedException();
    }
}
