using System.Net;
using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Outbox.EntityFrameworkCore;
using Outbox.Http.Tests.Infrastructure;

namespace Outbox.Http.Tests.Receiving;

/// <summary>
/// The sealed inbox: a request must carry a valid, recent signature (or satisfy a policy) before anything is read or
/// written. Posted by hand, as a stranger or a sender would, against Kestrel and a real SQLite inbox.
/// </summary>
public sealed class HttpInboxSignatureTests
{
    private const string Body = """{"text":"pay me"}""";

    public static TheoryData<string> Forgeries => ["unsigned", "wrong secret", "unknown key id", "tampered body", "other message id", "other path", "garbage signature"];

    [Theory]
    [MemberData(nameof(Forgeries))]
    public async Task Post_ForgedRequest_Answers401AndWritesNoRowInAnyTable(string forgery)
    {
        using var database = new TempDatabase();
        var (app, address) = await Apps.StartReceiverAsync(database);
        await using var _ = app;
        using var client = new HttpClient { BaseAddress = address };
        var before = await Apps.RowCountsAsync(database);
        var id = Guid.CreateVersion7();
        var request = HttpInboxEndpointTests.Request(id, Body);
        switch (forgery)
        {
            case "unsigned":
                break;
            case "wrong secret":
                await Apps.SignAsync(request, address, secret: Apps.OtherSecret);
                break;
            case "unknown key id":
                await Apps.SignAsync(request, address, keyId: "test-2");
                break;
            case "tampered body":
                await Apps.SignAsync(request, address);
                request.Content = new StringContent("""{"text":"pay me twice"}""", System.Text.Encoding.UTF8, "application/json");
                break;
            case "other message id":
                await Apps.SignAsync(request, address);
                request.Headers.Remove(OutboxHeaders.MessageId);
                request.Headers.Add(OutboxHeaders.MessageId, Guid.CreateVersion7().ToString());
                break;
            case "other path":
                // Signed for another consumer's inbox, replayed to this one.
                request.RequestUri = new Uri(address, "/inbox/refunds");
                await Apps.SignAsync(request, address);
                request.RequestUri = new Uri(address, $"/inbox/{Apps.Consumer}");
                break;
            case "garbage signature":
                await Apps.SignAsync(request, address);
                request.Headers.Remove(OutboxHttpHeaders.Signature);
                request.Headers.Add(OutboxHttpHeaders.Signature, "v1=" + new string('A', 10_000));
                break;
        }

        using var response = await client.SendAsync(request, TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Contains("Outbox-Signature", response.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);
        Assert.Equal(0, app.Services.GetRequiredService<GreetingCounter>().Calls);
        var after = await Apps.RowCountsAsync(database);
        Assert.Contains("inbox_messages", after.Keys);
        Assert.Contains("inbox_dead_letters", after.Keys);
        Assert.Equal(before, after);
        Assert.All(after, table => Assert.Equal(0, table.Value));
        request.Dispose();
    }

    [Theory]
    // A timestamp ahead of the receiver's clock comes closer to the window while the request travels: 301 s ahead was
    // inside it once the request took over a second (as beside stress-ng), so the future case is two minutes past the
    // edge. A timestamp behind only moves further out.
    [InlineData(-301)]
    [InlineData(420)]
    public async Task Post_TimestampOutsideTheWindow_Answers401AndWritesNothing(int secondsFromNow)
    {
        using var database = new TempDatabase();
        var (app, address) = await Apps.StartReceiverAsync(database, o => o.SignatureTolerance = TimeSpan.FromMinutes(5));
        await using var _ = app;
        using var client = new HttpClient { BaseAddress = address };
        using var request = await Apps.SignAsync(HttpInboxEndpointTests.Request(Guid.CreateVersion7(), Body), address, at: DateTimeOffset.UtcNow.AddSeconds(secondsFromNow));

        using var response = await client.SendAsync(request, TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Contains("outside this endpoint's window", await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken), StringComparison.Ordinal);
        Assert.All(await Apps.RowCountsAsync(database), table => Assert.Equal(0, table.Value));
    }

    [Fact]
    public async Task Post_ValidThenReplayedWithinTheWindow_ProcessedOnceAndTheReplaySkippedAsDuplicate()
    {
        using var database = new TempDatabase();
        var (app, address) = await Apps.StartReceiverAsync(database);
        await using var _ = app;
        using var client = new HttpClient { BaseAddress = address };
        var id = Guid.CreateVersion7();
        var signedAt = DateTimeOffset.UtcNow.AddSeconds(-60); // an old capture, still within the 5 minutes
        using var original = await Apps.SignAsync(HttpInboxEndpointTests.Request(id, Body), address, at: signedAt);
        using var replay = await Apps.SignAsync(HttpInboxEndpointTests.Request(id, Body), address, at: signedAt);
        Assert.Equal(original.Headers.GetValues(OutboxHttpHeaders.Signature), replay.Headers.GetValues(OutboxHttpHeaders.Signature)); // byte for byte

        using var first = await client.SendAsync(original, TestContext.Current.CancellationToken);
        using var second = await client.SendAsync(replay, TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.Equal(1, app.Services.GetRequiredService<GreetingCounter>().Calls);
        var greeting = Assert.Single(await Apps.QueryAsync<ReceiverDb, List<ReceivedGreeting>>(app.Services, db => db.Greetings.ToListAsync()));
        Assert.Equal(id, greeting.MessageId);
        Assert.Equal("pay me", greeting.Text);
        Assert.Equal(1, await Apps.QueryAsync<ReceiverDb, int>(app.Services, db => db.Set<InboxRecord>().CountAsync()));
        Assert.Equal(0, await Apps.QueryAsync<ReceiverDb, int>(app.Services, db => db.Set<InboxDeadLetterRecord>().CountAsync()));
    }

    [Fact]
    public async Task Post_KeyRotation_OldAndNewAcceptedDuringTheOverlapAndOldRefusedAfter()
    {
        using var database = new TempDatabase();
        const string oldKey = "2026-11";
        const string newKey = "2026-12";

        // The overlap: the receiver holds both keys; some senders still sign with the old one, some with the new.
        var (overlap, address) = await Apps.StartReceiverAsync(database, o =>
        {
            o.SigningKeys.Clear();
            o.SigningKeys[oldKey] = Apps.Secret;
            o.SigningKeys[newKey] = Apps.OtherSecret;
        });
        await using (overlap)
        {
            using var client = new HttpClient { BaseAddress = address };
            using var byOld = await client.SendAsync(await Apps.SignAsync(HttpInboxEndpointTests.Request(Guid.CreateVersion7(), Body), address, oldKey, Apps.Secret), TestContext.Current.CancellationToken);
            using var byNew = await client.SendAsync(await Apps.SignAsync(HttpInboxEndpointTests.Request(Guid.CreateVersion7(), Body), address, newKey, Apps.OtherSecret), TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.OK, byOld.StatusCode);
            Assert.Equal(HttpStatusCode.OK, byNew.StatusCode);
            Assert.Equal(2, overlap.Services.GetRequiredService<GreetingCounter>().Calls);
        }

        // After: the old key is removed; the same database, the new key alone.
        var (after, address2) = await Apps.StartReceiverAsync(database, o =>
        {
            o.SigningKeys.Clear();
            o.SigningKeys[newKey] = Apps.OtherSecret;
        });
        await using (after)
        {
            var before = await Apps.RowCountsAsync(database);
            using var client = new HttpClient { BaseAddress = address2 };
            using var byOld = await client.SendAsync(await Apps.SignAsync(HttpInboxEndpointTests.Request(Guid.CreateVersion7(), Body), address2, oldKey, Apps.Secret), TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.Unauthorized, byOld.StatusCode);
            Assert.Equal(before, await Apps.RowCountsAsync(database));

            using var byNew = await client.SendAsync(await Apps.SignAsync(HttpInboxEndpointTests.Request(Guid.CreateVersion7(), Body), address2, newKey, Apps.OtherSecret), TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.OK, byNew.StatusCode);
            Assert.Equal(1, after.Services.GetRequiredService<GreetingCounter>().Calls);
        }

        Assert.Equal(3, await CountAsync(database, "greetings"));
    }

    [Fact]
    public async Task Map_NeitherSigningKeyNorPolicy_FailsAtStartUpNamingTheOptions()
    {
        using var database = new TempDatabase();

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => Apps.StartReceiverAsync(database, o => o.SigningKeys.Clear()));

        Assert.Contains($"Outbox:Http:Inbox:{Apps.Consumer}:SigningKeys", error.Message, StringComparison.Ordinal);
        Assert.Contains($"Outbox:Http:Inbox:{Apps.Consumer}:AuthorizationPolicy", error.Message, StringComparison.Ordinal);
        Assert.Contains($"Outbox:Http:Inbox:{Apps.Consumer}:AllowUnauthenticated", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_NeitherSigningKeyNorPolicy_HostStartFailsEvenWhenNotMapped()
    {
        var builder = Microsoft.AspNetCore.Builder.WebApplication.CreateSlimBuilder();
        builder.Services.AddDbContext<ReceiverDb>(o => o.UseSqlite("Data Source=:memory:"));
        builder.Services.AddOutboxConsumer<ReceiverDb>("payments").AddHandler<Greeting, GreetingHandler>().UseHttp();
        Microsoft.AspNetCore.Hosting.HostingAbstractionsWebHostBuilderExtensions.UseUrls(builder.WebHost, "http://127.0.0.1:0");
        await using var app = builder.Build();

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync(TestContext.Current.CancellationToken));

        Assert.Contains("Outbox:Http:Inbox:payments:SigningKeys", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("c2hvcnQ=", "at least 32 bytes")] // "short"
    [InlineData("not base64!", "at least 32 bytes")]
    public async Task Map_MalformedKey_FailsAtStartUpNamingTheKey(string secret, string expected)
    {
        using var database = new TempDatabase();

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => Apps.StartReceiverAsync(database, o => o.SigningKeys[Apps.KeyId] = secret));

        Assert.Contains($"Outbox:Http:Inbox:{Apps.Consumer}:SigningKeys:{Apps.KeyId}", error.Message, StringComparison.Ordinal);
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Map_AllowUnauthenticatedWithKeys_FailsAtStartUp()
    {
        using var database = new TempDatabase();

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => Apps.StartReceiverAsync(database, o => o.AllowUnauthenticated = true));

        Assert.Contains($"Outbox:Http:Inbox:{Apps.Consumer}:AllowUnauthenticated", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Map_AllowUnauthenticated_AcceptsUnsignedAndLogsAWarning()
    {
        using var database = new TempDatabase();
        var logs = new ListLoggerProvider();
        var (app, address) = await Apps.StartReceiverAsync(
            database,
            o =>
            {
                o.SigningKeys.Clear();
                o.AllowUnauthenticated = true;
            },
            services => services.AddSingleton<ILoggerProvider>(logs));
        await using var _ = app;
        using var client = new HttpClient { BaseAddress = address };

        using var response = await client.SendAsync(HttpInboxEndpointTests.Request(Guid.CreateVersion7(), Body), TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(1, app.Services.GetRequiredService<GreetingCounter>().Calls);
        Assert.Contains(logs.Entries, e => e.Level == LogLevel.Warning && e.Message.Contains("WITHOUT authentication", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Post_AuthorizationPolicy_StrangerGets401AndNothingWrittenAndTheAuthorizedSenderIsProcessed()
    {
        using var database = new TempDatabase();
        var (app, address) = await Apps.StartReceiverAsync(
            database,
            o =>
            {
                o.SigningKeys.Clear();
                o.AuthorizationPolicy = "inbox-senders";
            },
            services =>
            {
                services.AddAuthentication(TestAuthentication.SchemeName).AddScheme<AuthenticationSchemeOptions, TestAuthentication>(TestAuthentication.SchemeName, null);
                services.AddAuthorization(o => o.AddPolicy("inbox-senders", p => p.RequireAuthenticatedUser().RequireClaim("role", "sender")));
            });
        await using var _ = app;
        using var client = new HttpClient { BaseAddress = address };

        using var stranger = await client.SendAsync(HttpInboxEndpointTests.Request(Guid.CreateVersion7(), Body), TestContext.Current.CancellationToken);
        var wrongRole = HttpInboxEndpointTests.Request(Guid.CreateVersion7(), Body);
        wrongRole.Headers.Add(TestAuthentication.Header, "reader");
        using var refused = await client.SendAsync(wrongRole, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.Unauthorized, stranger.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.All(await Apps.RowCountsAsync(database), table => Assert.Equal(0, table.Value));

        var authorized = HttpInboxEndpointTests.Request(Guid.CreateVersion7(), Body);
        authorized.Headers.Add(TestAuthentication.Header, "sender");
        using var accepted = await client.SendAsync(authorized, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, accepted.StatusCode);
        Assert.Equal(1, app.Services.GetRequiredService<GreetingCounter>().Calls);
        wrongRole.Dispose();
        authorized.Dispose();
    }

    [Fact]
    public async Task Map_PolicyNotRegistered_FailsAtMappingNamingThePolicy()
    {
        using var database = new TempDatabase();

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => Apps.StartReceiverAsync(
            database,
            o =>
            {
                o.SigningKeys.Clear();
                o.AuthorizationPolicy = "nobody-registered-this";
            },
            services => services.AddAuthorization()));

        Assert.Contains("nobody-registered-this", error.Message, StringComparison.Ordinal);
        Assert.Contains($"Outbox:Http:Inbox:{Apps.Consumer}:AuthorizationPolicy", error.Message, StringComparison.Ordinal);
    }

    private static async Task<long> CountAsync(TempDatabase database, string table) => (await Apps.RowCountsAsync(database))[table];

    /// <summary>Authenticates a request carrying <see cref="Header"/>, with its value as the "role" claim.</summary>
    private sealed class TestAuthentication(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder)
        : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
    {
        public const string SchemeName = "Test";

        public const string Header = "x-test-role";

        protected override Task<AuthenticateResult> HandleAuthenticateAsync()
        {
            if (!Request.Headers.TryGetValue(Header, out var role))
            {
                return Task.FromResult(AuthenticateResult.NoResult());
            }

            var identity = new ClaimsIdentity([new Claim("role", role.ToString())], SchemeName);
            return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName)));
        }
    }

    private sealed class ListLoggerProvider : ILoggerProvider
    {
        public List<(LogLevel Level, string Message)> Entries { get; } = [];

        public ILogger CreateLogger(string categoryName) => new ListLogger(this);

        public void Dispose()
        {
        }

        private sealed class ListLogger(ListLoggerProvider provider) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                lock (provider.Entries)
                {
                    provider.Entries.Add((logLevel, formatter(state, exception)));
                }
            }
        }
    }
}
