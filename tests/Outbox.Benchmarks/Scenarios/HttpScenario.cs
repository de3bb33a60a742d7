using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Outbox.Benchmarks.Infrastructure;
using Outbox.Benchmarks.Reporting;
using Outbox.Http;

namespace Outbox.Benchmarks.Scenarios;

/// <summary>
/// <c>http</c>: end to end over the HTTP transport, twice in the same run. N messages wait in the outbox; D dispatcher
/// hosts post them, signed, to a Kestrel app on 127.0.0.1 whose consumer (<c>AddOutboxConsumer</c> + <c>UseHttp</c>,
/// the real EF inbox in a database of the same kind) writes a payment row per message. First with one message per POST
/// (<c>MaxBatchMessages = 1</c>), then with batches (<c>--http-batch</c>, default the library's), each phase with a
/// fresh inbox and receiver and its own warm-up (which is also when the sender learns that the receiver takes
/// batches). Reports msg/s and POSTs per message of each phase and the ratio of the rates.
/// </summary>
public static class HttpScenario
{
    public const int DefaultMessages = 20_000;
    private const string Consumer = "bench-payments";
    private const string KeyId = "bench-1";
    private static readonly string Secret = Convert.ToBase64String(Enumerable.Range(7, 32).Select(i => (byte)i).ToArray());

    public static async Task RunAsync(BenchContext context, BenchDatabase database, Report report)
    {
        var options = context.Options;
        var messages = options.Messages ?? DefaultMessages;
        var perPost = options.HttpBatch ?? new HttpTransportOptions().MaxBatchMessages;
        report.Set("messages", messages).Set("dispatchers", options.Dispatchers).Set("lanes", options.Lanes).Set("http_batch", perPost);
        var inbox = await RabbitMqScenario.InboxDatabase.CreateAsync(database, context.Cancellation);
        Phase off, on;
        try
        {
            off = await RunPhaseAsync(context, database, inbox, report, 0, messages, 1, "one message per POST");
            on = await RunPhaseAsync(context, database, inbox, report, off.Target, messages, perPost, $"batches of up to {perPost} per POST");
        }
        finally
        {
            await inbox.DisposeAsync();
        }

        report.AddRow("phase", "messages", "seconds", "msg/s", "POSTs", "POSTs/msg", "cores (machine)");
        foreach (var (name, phase) in new[] { ("one message per POST", off), ($"batches (up to {perPost})", on) })
        {
            report.AddRow(
                name,
                Report.Number(messages),
                Report.Number(phase.Elapsed.TotalSeconds),
                Report.Number(messages / phase.Elapsed.TotalSeconds),
                Report.Number(phase.Requests),
                Report.Number((double)phase.Requests / messages),
                Report.Number(phase.Usage.Machine));
        }

        report.Set("single_msgs_per_s", messages / off.Elapsed.TotalSeconds)
            .Set("single_posts_per_msg", (double)off.Requests / messages)
            .Set("batch_msgs_per_s", messages / on.Elapsed.TotalSeconds)
            .Set("batch_posts_per_msg", (double)on.Requests / messages)
            .Set("batch_messages_per_post", (double)messages / Math.Max(1, on.Requests))
            .Set("batch_posts_that_were_batches", on.Batches)
            .Set("speedup", off.Elapsed.TotalSeconds / on.Elapsed.TotalSeconds)
            .Set("cpu_machine_cores_single", off.Usage.Machine)
            .Set("cpu_machine_cores_batch", on.Usage.Machine);
        report.AddNote("POSTs counted at the receiver, measured phase only (the warm-up is not counted); each phase checks every message was handled exactly once.");
    }

    private sealed record Phase(long Target, TimeSpan Elapsed, long Requests, long Batches, CpuUsage Usage);

    /// <summary>One phase with its own receiver and dispatchers; the inbox already holds <paramref name="processed"/> payments.</summary>
    private static async Task<Phase> RunPhaseAsync(
        BenchContext context, BenchDatabase database, RabbitMqScenario.InboxDatabase inbox, Report report, long processed, int messages, int perPost, string name)
    {
        var ct = context.Cancellation;
        var log = context.Log;
        var counter = new PostCounter();
        await using var receiver = BuildReceiver(inbox, context, counter);
        await receiver.StartAsync(ct);
        var url = new Uri(new Uri(receiver.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single()), $"/inbox/{Consumer}");
        await using var fleet = DispatcherFleet.Build(
            database,
            context.Options,
            outbox => outbox.UseHttp(o =>
            {
                o.UrlFor = _ => url;
                o.SigningKeys["*"] = new HttpSigningKey { KeyId = KeyId, Secret = Secret };
                o.MaxBatchMessages = perPost;
            }),
            log,
            wakeup: false);
        await fleet.Stats.PauseAsync();
        await fleet.StartAsync(ct);

        // The warm-up, always: it is also how the sender learns the receiver takes batches.
        var warm = Math.Min(messages, 2_000);
        await log.WriteLineAsync($"[{name}] warm-up: {warm:N0} messages (not measured) ...");
        await database.PrefillAsync(warm, ct);
        fleet.Stats.Paused = false;
        fleet.NotifyAll();
        await Wait.UntilAsync(async () => await inbox.CountPaymentsAsync(ct) >= processed + warm, TimeSpan.FromMilliseconds(20), context.Timeout, "the warm-up messages were handled", ct);
        await fleet.Stats.PauseAsync();
        counter.Reset();

        var (target, elapsed, _, usage, _) = await EndToEndPhase.MeasureAsync(
            context, database, fleet, inbox, receiver, "http", messages, processed + warm, consumer: true, $"[{name}] measuring {messages:N0} messages to {url} ...");
        await EndToEndPhase.VerifyAsync(inbox, report, target, check: true, ct);
        return new Phase(target, elapsed, counter.Requests, counter.Batches, usage);
    }

    private static WebApplication BuildReceiver(RabbitMqScenario.InboxDatabase inbox, BenchContext context, PostCounter counter)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Logging.AddProvider(new StderrLoggerProvider(context.Log, "receiver"));
        builder.WebHost.UseKestrel().UseUrls("http://127.0.0.1:0");
        builder.Services.AddDbContext<BenchInboxDbContext>(inbox.Configure);
        builder.Services.AddOutboxConsumer<BenchInboxDbContext>(Consumer, c =>
        {
            c.AddHandler<OrderPlaced, BenchPaymentHandler>();
            if (context.Options.InboxBatch is { } batch)
            {
                c.Configure(o => o.MaxBatchSize = batch);
            }

            c.UseHttp(o => o.SigningKeys[KeyId] = Secret);
        });
        var app = builder.Build();
        app.Use(async (http, next) =>
        {
            counter.Count(http.Request.ContentType);
            await next(http);
        });
        app.MapOutboxHttpInbox("/inbox/{consumer}");
        return app;
    }

    /// <summary>POSTs the receiver got, and how many of them were batches.</summary>
    private sealed class PostCounter
    {
        private long _requests;
        private long _batches;

        public long Requests => Interlocked.Read(ref _requests);

        public long Batches => Interlocked.Read(ref _batches);

        public void Count(string? contentType)
        {
            Interlocked.Increment(ref _requests);
            if (contentType is not null && contentType.StartsWith("application/vnd.outbox.batch+json", StringComparison.OrdinalIgnoreCase))
            {
                Interlocked.Increment(ref _batches);
            }
        }

        public void Reset()
        {
            Interlocked.Exchange(ref _requests, 0);
            Interlocked.Exchange(ref _batches, 0);
        }
    }
}
