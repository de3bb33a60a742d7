using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Outbox.Benchmarks.Infrastructure;
using Outbox.Benchmarks.Reporting;
using Outbox.Http;
using Outbox.RabbitMQ;
using Outbox.TestInfrastructure;
using RabbitMQ.Client;

namespace Outbox.Benchmarks.Scenarios;

/// <summary>
/// <c>isolation</c>: does a bad destination slow down a healthy one next to it? Two phases through one dispatcher
/// host, each publishing 300 messages to the healthy destination in small transactions while the dispatcher runs:
/// first alone, then interleaved with messages to a bad destination. The healthy messages' publish-to-accepted
/// latency (the library's <c>outbox.delivery.latency</c>, read with a <see cref="MeterListener"/>) is reported as
/// p50/p99 per phase, and <c>ratio</c> = p99 with the bad one / p99 alone.
/// <list type="bullet">
/// <item><c>--transport rabbitmq</c>: the bad destination is an exchange with no queue bound (10 messages, each
/// unroutable: 312 NO_ROUTE), MaxAttempts 3; they must end as dead letters.</item>
/// <item><c>--transport http</c>: two receivers; the bad one refuses connections for <c>--outage-seconds</c> (100
/// messages), then listens; they must all arrive, none dead-lettered for the outage.</item>
/// </list>
/// </summary>
public static class IsolationScenario
{
    private const int Healthy = 300;
    private const int PerTransaction = 10;
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(20);

    public static async Task RunAsync(BenchContext context, BenchDatabase database, Report report)
    {
        var options = context.Options;
        var ct = context.Cancellation;
        var log = context.Log;
        var http = options.Transport == "http";
        var bad = http ? 100 : 10;
        var suffix = Guid.NewGuid().ToString("N")[..8];
        var good = $"outbox-bench.{suffix}.healthy";
        var broken = $"outbox-bench.{suffix}.bad";
        report.Set("transport", options.Transport).Set("healthy_messages", Healthy).Set("bad_messages", bad);

        using var latencies = new LatencyListener(good);
        Receiver? goodReceiver = null;
        Receiver? badReceiver = null;
        Uri? amqp = null;
        DispatcherFleet fleet;
        if (http)
        {
            goodReceiver = Receiver.Start(FreePort());
            badReceiver = new Receiver(FreePort());
            fleet = DispatcherFleet.Build(database, options, outbox =>
            {
                outbox.UseHttp(o =>
                {
                    o.Destinations[good] = goodReceiver.Url;
                    o.Destinations[broken] = badReceiver.Url;
                });
            }, log, wakeup: true);
            report.Set("outage_s", options.OutageSeconds);
        }
        else
        {
            amqp = options.Amqp ?? (await RabbitMqServer.AcquireAsync(ct)).AmqpUri;
            fleet = DispatcherFleet.Build(database, options, outbox =>
            {
                outbox.UseRabbitMq(o =>
                {
                    o.Uri = amqp;
                    o.ClientName = "outbox-bench-isolation";
                    o.AddExchange(good).AddQueue(good, good);
                    o.AddExchange(broken); // no queue bound: every message to it is unroutable
                });
                outbox.Services.Configure<OutboxDispatcherOptions>(o => o.MaxAttempts = 3);
            }, log, wakeup: true);
        }

        try
        {
            await using (fleet)
            {
                await fleet.StartAsync(ct);
                report.Set("max_attempts", fleet.Options.MaxAttempts);

                // Warm-up (not measured): pools, channels, JIT.
                await PublishAsync(database, good, null, 50, 0, ct);
                await Wait.UntilAsync(() => database.IsOutboxEmptyAsync(ct), Poll, context.Timeout, "the warm-up was delivered", ct);

                await log.WriteLineAsync($"Phase 1: {Healthy} messages to the healthy destination alone ...");
                latencies.Reset();
                await PublishAsync(database, good, null, Healthy, 0, ct);
                await Wait.UntilAsync(() => latencies.Count >= Healthy, Poll, context.Timeout, "the healthy messages were delivered (alone)", ct);
                var alone = latencies.Snapshot();

                await log.WriteLineAsync($"Phase 2: {Healthy} healthy messages with {bad} to the bad destination among them ...");
                latencies.Reset();
                var outageStarted = Stopwatch.StartNew();
                await PublishAsync(database, good, broken, Healthy, bad, ct);
                await Wait.UntilAsync(() => latencies.Count >= Healthy, Poll, context.Timeout, "the healthy messages were delivered (with the bad one)", ct);
                var with = latencies.Snapshot();

                if (badReceiver is not null)
                {
                    var left = TimeSpan.FromSeconds(options.OutageSeconds) - outageStarted.Elapsed;
                    if (left > TimeSpan.Zero)
                    {
                        await Task.Delay(left, ct);
                    }

                    await log.WriteLineAsync($"The bad receiver listens again after {outageStarted.Elapsed.TotalSeconds:0.0} s ...");
                    badReceiver.Listen();
                    await Wait.UntilAsync(() => badReceiver.Received >= bad, Poll, context.Timeout, "the bad receiver's messages arrived once it was back", ct);
                    report.Set("bad_delivered_after_s", Math.Round(outageStarted.Elapsed.TotalSeconds, 3));
                }

                await Wait.UntilAsync(() => database.IsOutboxEmptyAsync(ct), Poll, context.Timeout, "the outbox was emptied (delivered or dead-lettered)", ct);
                await fleet.StopAsync();

                var (deadLettered, unroutable) = await CountDeadLettersAsync(database, ct);
                var ratio = with.P99 / Math.Max(alone.P99, 1e-9);
                report.Set("alone_p50_ms", alone.P50 * 1000).Set("alone_p99_ms", alone.P99 * 1000)
                    .Set("with_bad_p50_ms", with.P50 * 1000).Set("with_bad_p99_ms", with.P99 * 1000)
                    .Set("p50_ms", with.P50 * 1000).Set("p99_ms", with.P99 * 1000)
                    .Set("ratio", ratio)
                    .Set("dead_lettered", deadLettered)
                    .Set("unroutable", unroutable)
                    .Set("bad_received", badReceiver?.Received)
                    .Set("healthy_received", goodReceiver?.Received);
                report.AddNote(
                    $"Healthy destination p50/p99: alone {alone.P50 * 1000:0.0}/{alone.P99 * 1000:0.0} ms, with the bad one {with.P50 * 1000:0.0}/{with.P99 * 1000:0.0} ms " +
                    $"(ratio of p99s {ratio:0.00}); dead letters {deadLettered} (unroutable {unroutable}).");
                var expectedDead = http ? 0 : bad;
                if (deadLettered != expectedDead || (!http && unroutable != bad))
                {
                    report.Fail($"expected {expectedDead} dead letter(s){(http ? "" : $", all unroutable")}; got {deadLettered} ({unroutable} unroutable)");
                }
            }
        }
        finally
        {
            goodReceiver?.Dispose();
            badReceiver?.Dispose();
            if (amqp is not null)
            {
                await DeleteTopologyAsync(amqp, good, broken, log);
            }
        }
    }

    /// <summary>
    /// Publishes <paramref name="healthy"/> messages to <paramref name="good"/> and <paramref name="bad"/> to
    /// <paramref name="broken"/>, spread evenly among them, <see cref="PerTransaction"/> per transaction.
    /// </summary>
    private static async Task PublishAsync(BenchDatabase database, string good, string? broken, int healthy, int bad, CancellationToken ct)
    {
        var total = healthy + bad;
        var every = bad == 0 ? int.MaxValue : Math.Max(1, total / bad);
        var badLeft = bad;
        for (var i = 0; i < total;)
        {
            await using var context = database.CreateContext();
            for (var n = 0; n < PerTransaction && i < total; n++, i++)
            {
                var toBad = broken is not null && badLeft > 0 && (i % every == every - 1 || total - i == badLeft);
                if (toBad)
                {
                    badLeft--;
                }

                context.Publish(new OrderPlaced(Guid.NewGuid(), $"ISO-{i}", i), new PublishOptions { Destination = toBad ? broken! : good });
            }

            await context.SaveChangesAsync(ct);
            await Task.Delay(10, ct);
        }
    }

    private static async Task<(long DeadLettered, long Unroutable)> CountDeadLettersAsync(BenchDatabase database, CancellationToken ct)
    {
        await using var connection = await database.OpenConnectionAsync(ct);
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT count(*), count(*) FILTER (WHERE reason LIKE '%NO_ROUTE%' OR reason LIKE '%312%') FROM {database.Tables.DeadLetters}";
        if (database.Provider == Options.BenchProvider.Sqlite)
        {
            command.CommandText = $"SELECT count(*), sum(CASE WHEN reason LIKE '%NO_ROUTE%' OR reason LIKE '%312%' THEN 1 ELSE 0 END) FROM {database.Tables.DeadLetters}";
        }

        await using var reader = await command.ExecuteReaderAsync(ct);
        await reader.ReadAsync(ct);
        return (Convert.ToInt64(reader.GetValue(0), CultureInfo.InvariantCulture),
            reader.IsDBNull(1) ? 0 : Convert.ToInt64(reader.GetValue(1), CultureInfo.InvariantCulture));
    }

    private static async Task DeleteTopologyAsync(Uri amqp, string good, string broken, TextWriter log)
    {
        try
        {
            var factory = new ConnectionFactory { Uri = amqp };
            await using var connection = await factory.CreateConnectionAsync("outbox-bench-cleanup");
            await using var channel = await connection.CreateChannelAsync();
            await channel.QueueDeleteAsync(good, ifUnused: false, ifEmpty: false);
            await channel.ExchangeDeleteAsync(good, ifUnused: false);
            await channel.ExchangeDeleteAsync(broken, ifUnused: false);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            await log.WriteLineAsync($"Note: could not delete the isolation topology: {ex.Message}");
        }
    }

    private static int FreePort()
    {
        using var socket = new TcpListener(IPAddress.Loopback, 0);
        socket.Start();
        return ((IPEndPoint)socket.LocalEndpoint).Port;
    }

    /// <summary>The library's delivery latency of one destination, as its meter reports it.</summary>
    private sealed class LatencyListener : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly List<double> _values = [];
        private readonly string _destination;

        public LatencyListener(string destination)
        {
            _destination = destination;
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == OutboxTelemetry.MeterName && instrument.Name == "outbox.delivery.latency")
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<double>((_, value, tags, _) =>
            {
                foreach (var tag in tags)
                {
                    if (tag.Key == "messaging.destination.name" && (tag.Value as string) == _destination)
                    {
                        lock (_values)
                        {
                            _values.Add(value);
                        }
                    }
                }
            });
            _listener.Start();
        }

        public int Count
        {
            get
            {
                lock (_values)
                {
                    return _values.Count;
                }
            }
        }

        public void Reset()
        {
            lock (_values)
            {
                _values.Clear();
            }
        }

        public (double P50, double P99) Snapshot()
        {
            double[] sorted;
            lock (_values)
            {
                sorted = [.. _values.Order()];
            }

            double At(double q) => sorted.Length == 0 ? 0 : sorted[Math.Clamp((int)Math.Ceiling(q * sorted.Length) - 1, 0, sorted.Length - 1)];
            return (At(0.50), At(0.99));
        }

        public void Dispose() => _listener.Dispose();
    }

    /// <summary>A receiving service that answers 200 to every POST; refuses connections until <see cref="Listen"/>.</summary>
    private sealed class Receiver(int port) : IDisposable
    {
        private readonly HttpListener _listener = new();
        private readonly CancellationTokenSource _stop = new();
        private long _received;

        public Uri Url { get; } = new($"http://127.0.0.1:{port}/inbox/");

        public long Received => Interlocked.Read(ref _received);

        public static Receiver Start(int port)
        {
            var receiver = new Receiver(port);
            receiver.Listen();
            return receiver;
        }

        public void Listen()
        {
            _listener.Prefixes.Add($"http://127.0.0.1:{port}/");
            _listener.Start();
            _ = Task.Run(LoopAsync);
        }

        private async Task LoopAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                HttpListenerContext request;
                try
                {
                    request = await _listener.GetContextAsync();
                }
                catch (Exception) when (_stop.IsCancellationRequested || !_listener.IsListening)
                {
                    return;
                }

                _ = Task.Run(async () =>
                {
                    try
                    {
                        await request.Request.InputStream.CopyToAsync(Stream.Null);
                        Interlocked.Increment(ref _received);
                        request.Response.StatusCode = 200;
                        request.Response.Close();
                    }
                    catch (Exception ex) when (ex is HttpListenerException or IOException or ObjectDisposedException)
                    {
                        // The client went away.
                    }
                });
            }
        }

        public void Dispose()
        {
            _stop.Cancel();
            if (_listener.IsListening)
            {
                _listener.Stop();
            }

            _listener.Close();
            _stop.Dispose();
        }
    }
}
