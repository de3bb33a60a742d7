using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Outbox.EntityFrameworkCore;
using Outbox.Http.Tests.Infrastructure;

namespace Outbox.Http.Tests.Receiving;

/// <summary>
/// The inbox endpoint taking several messages in one request (<c>application/vnd.outbox.batch+json</c>), posted by hand
/// against Kestrel and a real SQLite inbox: signed as one request, an outcome per message in the answer.
/// </summary>
public sealed class HttpInboxBatchTests
{
    public static TheoryData<string> Forgeries => ["unsigned", "wrong secret", "tampered body", "other batch id", "signed as a single message"];

    [Fact]
    public async Task Post_SignedBatch_AnswersAnOutcomePerMessageInOrderAndHandlesEachOnce()
    {
        using var database = new TempDatabase();
        var (app, address) = await Apps.StartReceiverAsync(database);
        await using var _ = app;
        using var client = new HttpClient { BaseAddress = address };
        var messages = new[] { Message("one"), Message("two"), Message("three") };

        using var response = await client.SendAsync(await Apps.SignAsync(BatchRequest(messages), address), TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(HttpBatchFormat.ResultContentType, response.Content.Headers.ContentType?.MediaType);
        var results = await ResultsAsync(response);
        Assert.Equal(messages.Select(m => m.MessageId.ToString("D")), results.Select(r => r.Id));
        Assert.All(results, r => Assert.Equal("accepted", r.Outcome));
        var rows = await Apps.QueryAsync<ReceiverDb, List<ReceivedGreeting>>(app.Services, db => db.Greetings.ToListAsync());
        Assert.Equal(messages.Select(m => m.MessageId).Order(), rows.Select(r => r.MessageId).Order());
        Assert.Equal(3, app.Services.GetRequiredService<GreetingCounter>().Calls);
    }

    [Fact]
    public async Task Post_SignedBatchReplayed_TheReplayIsAcceptedAsDuplicatesAndNothingRunsTwice()
    {
        using var database = new TempDatabase();
        var (app, address) = await Apps.StartReceiverAsync(database);
        await using var _ = app;
        using var client = new HttpClient { BaseAddress = address };
        var messages = new[] { Message("one"), Message("two") };
        using var original = await Apps.SignAsync(BatchRequest(messages, batchId: "batch-1"), address);
        var body = await original.Content!.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);
        using var replay = BatchRequest(messages, batchId: "batch-1");
        replay.Content = Content(body);
        foreach (var name in new[] { OutboxHttpHeaders.SignatureKeyId, OutboxHttpHeaders.SignatureTimestamp, OutboxHttpHeaders.Signature })
        {
            replay.Headers.Add(name, original.Headers.GetValues(name));
        }

        using var first = await client.SendAsync(original, TestContext.Current.CancellationToken);
        using var second = await client.SendAsync(replay, TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.All(await ResultsAsync(second), r => Assert.Equal("accepted", r.Outcome));
        Assert.Equal(2, app.Services.GetRequiredService<GreetingCounter>().Calls);
        Assert.Equal(2, await Apps.QueryAsync<ReceiverDb, int>(app.Services, db => db.Greetings.CountAsync()));
    }

    [Theory]
    [MemberData(nameof(Forgeries))]
    public async Task Post_ForgedBatch_Answers401AndWritesNoRowInAnyTable(string forgery)
    {
        using var database = new TempDatabase();
        var (app, address) = await Apps.StartReceiverAsync(database);
        await using var _ = app;
        using var client = new HttpClient { BaseAddress = address };
        var messages = new[] { Message("pay me"), Message("pay me too") };
        var request = BatchRequest(messages);
        switch (forgery)
        {
            case "unsigned":
                break;
            case "wrong secret":
                await Apps.SignAsync(request, address, secret: Apps.OtherSecret);
                break;
            case "tampered body":
                await Apps.SignAsync(request, address);
                request.Content = Content(HttpBatchFormat.WriteRequest([messages[0], Message("pay me twice")], [null, null]));
                break;
            case "other batch id":
                await Apps.SignAsync(request, address);
                request.Headers.Remove(OutboxHttpHeaders.BatchId);
                request.Headers.Add(OutboxHttpHeaders.BatchId, Guid.NewGuid().ToString());
                break;
            case "signed as a single message":
                // The signature of a single POST whose message id is the batch id, on a batch body: not a batch signature.
                request.Headers.Add(OutboxHeaders.MessageId, request.Headers.GetValues(OutboxHttpHeaders.BatchId).Single());
                var single = new HttpRequestMessage(HttpMethod.Post, request.RequestUri) { Content = Content(await request.Content!.ReadAsByteArrayAsync(TestContext.Current.CancellationToken), "application/json") };
                single.Headers.Add(OutboxHeaders.MessageId, request.Headers.GetValues(OutboxHeaders.MessageId));
                await Apps.SignAsync(single, address);
                foreach (var name in new[] { OutboxHttpHeaders.SignatureKeyId, OutboxHttpHeaders.SignatureTimestamp, OutboxHttpHeaders.Signature })
                {
                    request.Headers.Add(name, single.Headers.GetValues(name));
                }

                single.Dispose();
                break;
        }

        using var response = await client.SendAsync(request, TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal(0, app.Services.GetRequiredService<GreetingCounter>().Calls);
        var after = await Apps.RowCountsAsync(database);
        Assert.Contains("inbox_messages", after.Keys);
        Assert.All(after, table => Assert.Equal(0, table.Value));
        request.Dispose();
    }

    [Fact]
    public async Task Post_SignedBatchOutsideTheWindow_Answers401AndWritesNothing()
    {
        using var database = new TempDatabase();
        var (app, address) = await Apps.StartReceiverAsync(database);
        await using var _ = app;
        using var client = new HttpClient { BaseAddress = address };

        using var response = await client.SendAsync(
            await Apps.SignAsync(BatchRequest([Message("late"), Message("later")]), address, at: DateTimeOffset.UtcNow.AddMinutes(-6)),
            TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.All(await Apps.RowCountsAsync(database), table => Assert.Equal(0, table.Value));
    }

    [Fact]
    public async Task Post_SingleMessageFromAnOlderSender_IsStillAccepted()
    {
        using var database = new TempDatabase();
        var (app, address) = await Apps.StartReceiverAsync(database);
        await using var _ = app;
        using var client = new HttpClient { BaseAddress = address };
        var id = Guid.CreateVersion7();

        using var response = await client.SendAsync(
            await Apps.SignAsync(HttpInboxEndpointTests.Request(id, """{"text":"one at a time"}"""), address), TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var row = Assert.Single(await Apps.QueryAsync<ReceiverDb, List<ReceivedGreeting>>(app.Services, db => db.Greetings.ToListAsync()));
        Assert.Equal(id, row.MessageId);
        Assert.Equal("one at a time", row.Text);
    }

    [Fact]
    public async Task Post_BatchWithAPoisonEntry_ThatOneIsDeadLetteredWithItsReasonAndTheOthersHandled()
    {
        using var database = new TempDatabase();
        var (app, address) = await Apps.StartReceiverAsync(database);
        await using var _ = app;
        using var client = new HttpClient { BaseAddress = address };
        var poison = Message("x", type: "No.Such.Type");
        var messages = new[] { Message("one"), poison, Message("two") };

        using var response = await client.SendAsync(await Apps.SignAsync(BatchRequest(messages), address), TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.All(await ResultsAsync(response), r => Assert.Equal("accepted", r.Outcome));
        var letter = Assert.Single(await Apps.QueryAsync<ReceiverDb, List<InboxDeadLetterRecord>>(app.Services, db => db.Set<InboxDeadLetterRecord>().ToListAsync()));
        Assert.Equal(poison.MessageId.ToString("D"), letter.MessageId);
        Assert.Contains("No.Such.Type", letter.Reason, StringComparison.Ordinal);
        Assert.Equal(2, await Apps.QueryAsync<ReceiverDb, int>(app.Services, db => db.Greetings.CountAsync()));
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("""{"messages":[]}""")]
    [InlineData("""{"messages":[{"id":"x","payload":"%%% not base64"}]}""")]
    [InlineData("""{"something":"else"}""")]
    public async Task Post_MalformedSignedBatch_Answers400AndWritesNothing(string body)
    {
        using var database = new TempDatabase();
        var (app, address) = await Apps.StartReceiverAsync(database);
        await using var _ = app;
        using var client = new HttpClient { BaseAddress = address };
        using var request = BatchRequest([]);
        request.Content = Content(Encoding.UTF8.GetBytes(body));

        using var response = await client.SendAsync(await Apps.SignAsync(request, address), TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.All(await Apps.RowCountsAsync(database), table => Assert.Equal(0, table.Value));
    }

    internal static OutboxMessage Message(string text, string? type = null) => new()
    {
        Position = 1,
        MessageId = Guid.CreateVersion7(),
        Destination = "greetings",
        MessageType = type ?? typeof(Greeting).FullName!,
        Payload = JsonSerializer.SerializeToUtf8Bytes(new { text }),
        ContentType = "application/json",
        Attempt = 1,
    };

    private static HttpRequestMessage BatchRequest(IReadOnlyList<OutboxMessage> messages, string? batchId = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, $"/inbox/{Apps.Consumer}")
        {
            Content = Content(HttpBatchFormat.WriteRequest(messages, messages.Select(_ => (string?)null).ToList())),
        };
        request.Headers.Add(OutboxHttpHeaders.BatchId, batchId ?? Guid.CreateVersion7().ToString());
        return request;
    }

    private static ByteArrayContent Content(byte[] body, string contentType = HttpBatchFormat.ContentType)
    {
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(contentType);
        return content;
    }

    private static async Task<List<(string? Id, string? Outcome)>> ResultsAsync(HttpResponseMessage response)
    {
        using var json = JsonDocument.Parse(await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken));
        return json.RootElement.GetProperty("results").EnumerateArray()
            .Select(r => (r.TryGetProperty("id", out var id) ? id.GetString() : null, r.GetProperty("outcome").GetString()))
            .ToList();
    }
}
