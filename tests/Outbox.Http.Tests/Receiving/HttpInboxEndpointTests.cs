using System.Net;
using System.Net.Http.Headers;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Outbox.EntityFrameworkCore;
using Outbox.Http.Tests.Infrastructure;

namespace Outbox.Http.Tests.Receiving;

/// <summary>The receiving endpoint, posted to by hand the way a sender (or a webhook) would.</summary>
public sealed class HttpInboxEndpointTests
{
    [Fact]
    public async Task Post_SameMessageTwice_HandlerRunsOnceAndBothAre200()
    {
        using var database = new TempDatabase();
        var (app, address) = await Apps.StartReceiverAsync(database);
        await using var _ = app;
        using var client = new HttpClient { BaseAddress = address };
        var id = Guid.CreateVersion7();

        using var first = await client.SendAsync(await Apps.SignAsync(Request(id, """{"text":"hi"}"""), address), TestContext.Current.CancellationToken);
        using var second = await client.SendAsync(await Apps.SignAsync(Request(id, """{"text":"hi"}""", attempt: 2), address), TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.Equal(1, app.Services.GetRequiredService<GreetingCounter>().Calls);
        Assert.Equal(1, await Apps.QueryAsync<ReceiverDb, int>(app.Services, db => db.Greetings.CountAsync()));
        Assert.Equal(1, await Apps.QueryAsync<ReceiverDb, int>(app.Services, db => db.Set<InboxRecord>().CountAsync()));
    }

    [Theory]
    [InlineData("Nobody.Handles.This", """{"text":"hi"}""", "has no handler")]
    [InlineData(null, """{"text":"hi"}""", "could not be deserialized")]
    public async Task Post_PoisonMessage_DeadLetteredAnd200(string? type, string body, string reason)
    {
        using var database = new TempDatabase();
        var (app, address) = await Apps.StartReceiverAsync(database);
        await using var _ = app;
        using var client = new HttpClient { BaseAddress = address };
        var id = Guid.CreateVersion7();
        using var request = await Apps.SignAsync(Request(id, type is null ? "not json" : body, type: type ?? typeof(Greeting).FullName!), address);

        using var response = await client.SendAsync(request, TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(0, app.Services.GetRequiredService<GreetingCounter>().Calls);
        var letter = Assert.Single(await Apps.QueryAsync<ReceiverDb, List<InboxDeadLetterRecord>>(app.Services, db => db.Set<InboxDeadLetterRecord>().ToListAsync()));
        Assert.Equal(id.ToString("D"), letter.MessageId);
        Assert.Contains(reason, letter.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Post_NoMessageId_DeadLetteredAnd200()
    {
        using var database = new TempDatabase();
        var (app, address) = await Apps.StartReceiverAsync(database);
        await using var _ = app;
        using var client = new HttpClient { BaseAddress = address };
        using var request = await Apps.SignAsync(
            new HttpRequestMessage(HttpMethod.Post, $"/inbox/{Apps.Consumer}") { Content = new StringContent("""{"text":"hi"}""", System.Text.Encoding.UTF8, "application/json") },
            address);

        using var response = await client.SendAsync(request, TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var letter = Assert.Single(await Apps.QueryAsync<ReceiverDb, List<InboxDeadLetterRecord>>(app.Services, db => db.Set<InboxDeadLetterRecord>().ToListAsync()));
        Assert.Contains("no message id", letter.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Post_PoisonOnceTheDeadLettersAreFull_Answers422AndWritesNothing()
    {
        using var database = new TempDatabase();
        var (app, address) = await Apps.StartReceiverAsync(
            database, services: services => services.Configure<InboxConsumerOptions>(Apps.Consumer, o => o.MaxDeadLetters = 1));
        await using var _ = app;
        using var client = new HttpClient { BaseAddress = address };

        using var first = await client.SendAsync(await Apps.SignAsync(Request(Guid.CreateVersion7(), "not json"), address), TestContext.Current.CancellationToken);
        var before = await Apps.RowCountsAsync(database);
        using var second = await client.SendAsync(await Apps.SignAsync(Request(Guid.CreateVersion7(), "not json either"), address), TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, second.StatusCode);
        Assert.Contains($"Outbox:Consumers:{Apps.Consumer}:MaxDeadLetters", await second.Content.ReadAsStringAsync(TestContext.Current.CancellationToken), StringComparison.Ordinal);
        Assert.Equal(before, await Apps.RowCountsAsync(database));
        Assert.Equal(1, before["inbox_dead_letters"]);
    }

    [Fact]
    public async Task Post_UnknownConsumer_Answers404()
    {
        using var database = new TempDatabase();
        var (app, address) = await Apps.StartReceiverAsync(database);
        await using var _ = app;
        using var client = new HttpClient { BaseAddress = address };

        using var response = await client.SendAsync(Request(Guid.CreateVersion7(), "{}", consumer: "nobody"), TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Post_BodyOverTheLimit_Answers413WithoutProcessing(bool chunked)
    {
        using var database = new TempDatabase();
        var (app, address) = await Apps.StartReceiverAsync(database, o => o.MaxRequestBodySize = 100);
        await using var _ = app;
        using var client = new HttpClient { BaseAddress = address };
        var body = "{\"text\":\"" + new string('x', 1000) + "\"}";
        using var request = await Apps.SignAsync(Request(Guid.CreateVersion7(), body), address);
        if (chunked)
        {
            request.Headers.TransferEncodingChunked = true;
            request.Content = new StreamContent(new UnknownLengthStream(System.Text.Encoding.UTF8.GetBytes(body)));
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            request.Content.Headers.ContentType.CharSet = "utf-8";
        }

        using var response = await client.SendAsync(request, TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal(0, app.Services.GetRequiredService<GreetingCounter>().Calls);
        Assert.Equal(0, await Apps.QueryAsync<ReceiverDb, int>(app.Services, db => db.Set<InboxRecord>().CountAsync()));
    }

    [Fact]
    public async Task Post_InboxCannotRecord_Answers503WithRetryAfter()
    {
        using var database = new TempDatabase();
        var (app, address) = await Apps.StartReceiverAsync(
            database,
            o => o.RetryAfter = TimeSpan.FromSeconds(7),
            services => services.Replace(ServiceDescriptor.Singleton<IInboxReceiver>(new RequeueingReceiver())));
        await using var _ = app;
        using var client = new HttpClient { BaseAddress = address };

        using var response = await client.SendAsync(await Apps.SignAsync(Request(Guid.CreateVersion7(), """{"text":"hi"}"""), address), TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(7), response.Headers.RetryAfter?.Delta);
    }

    [Fact]
    public async Task Map_ConsumerWithoutUseHttp_Throws()
    {
        var builder = Microsoft.AspNetCore.Builder.WebApplication.CreateSlimBuilder();
        builder.Services.AddDbContext<ReceiverDb>(o => o.UseSqlite("Data Source=:memory:"));
        builder.Services.AddOutboxConsumer<ReceiverDb>("other").AddHandler<Greeting, GreetingHandler>();
        await using var app = builder.Build();

        var error = Assert.Throws<InvalidOperationException>(() => Microsoft.AspNetCore.Builder.OutboxHttpEndpointRouteBuilderExtensions.MapOutboxHttpInbox(app, "/inbox/{consumer}"));
        Assert.Contains(".UseHttp()", error.Message, StringComparison.Ordinal);
    }

    internal static HttpRequestMessage Request(Guid id, string body, string? type = null, string consumer = Apps.Consumer, int attempt = 1)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, $"/inbox/{consumer}")
        {
            Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json"),
        };
        request.Headers.Add(OutboxHeaders.MessageId, id.ToString());
        request.Headers.Add(OutboxHeaders.MessageType, type ?? typeof(Greeting).FullName!);
        request.Headers.Add(OutboxHeaders.Attempt, attempt.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return request;
    }

    private sealed class RequeueingReceiver : IInboxReceiver
    {
        public Task<ReceiveDisposition> ReceiveAsync(string consumer, IncomingMessage message, CancellationToken cancellationToken) =>
            Task.FromResult(ReceiveDisposition.Requeue);
    }

    /// <summary>A stream that does not tell its length, so the client sends it chunked.</summary>
    private sealed class UnknownLengthStream(byte[] data) : MemoryStream(data)
    {
        public override bool CanSeek => false;
    }
}
