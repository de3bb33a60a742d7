using System.Diagnostics;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Hosting;
using Outbox.EntityFrameworkCore;
using Outbox.RabbitMQ.Tests.Infrastructure;
using Outbox.TestInfrastructure;
using RabbitMQ.Client;

namespace Outbox.RabbitMQ.Tests.EndToEnd;

/// <summary>
/// PostgreSQL outbox → dispatcher → RabbitMQ (confirms, mandatory) → consumer → PostgreSQL inbox, all real.
/// </summary>
[Collection(BrokerCollection.Name)]
public sealed class OutboxToInboxTests(BrokerFixture fixture) : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(90);
    private ShopEnvironment? _environment;

    private ShopEnvironment Environment => _environment ?? throw new InvalidOperationException("Not initialized.");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static ITestOutputHelper Output => TestContext.Current.TestOutputHelper!;

    public async ValueTask InitializeAsync() => _environment = await ShopEnvironment.CreateAsync(fixture);

    public async ValueTask DisposeAsync()
    {
        if (_environment is not null)
        {
            await _environment.DisposeAsync();
        }
    }

    [Fact]
    public async Task HostWithTransportAndConsumer_Stopped_StopsWithinTheHostTimeoutAndLeavesNoThreadOfItsOwn()
    {
        // A thread the library (or RabbitMQ.Client) started itself and left running would keep a user's process from
        // exiting. On Linux a new thread takes its creator's name unless it is given one, so one started from a pool
        // thread is called ".NET TP Worker" too: count those against the pool's own count, and every thread with a name
        // the runtime does not give (".NET ...").
        var before = ThreadsNotOfTheRuntime();
        var host = await Environment.StartHostAsync();
        await Environment.PlaceOrdersAsync(20, i => new PublishOptions { PartitionKey = $"customer-{i % 4}" });
        await ShopEnvironment.WaitUntilAsync(async () => await Environment.CountPaymentsAsync() == 20, Timeout, "20 payments");
        Output.WriteLine($"while running: {ThreadsNotOfTheRuntime()} threads not of the runtime (before: {before})");

        var stopping = Stopwatch.StartNew();
        await Environment.StopHostAsync(host);
        stopping.Stop();

        // The dispatcher's and the consumer's ShutdownTimeout are 2 s each; the host's own (30 s) is what a user waits for.
        Assert.True(stopping.Elapsed < new HostOptions().ShutdownTimeout, $"the host took {stopping.Elapsed.TotalSeconds:0.0} s to stop");

        // The pool grows and shrinks meanwhile, so a count can be off for a moment; a thread left running stays.
        var left = int.MaxValue;
        for (var look = 0; look < 20 && left > before; look++)
        {
            left = Math.Min(left, ThreadsNotOfTheRuntime());
            await Task.Delay(100, Ct);
        }

        Assert.True(left <= before, $"{left - before} thread(s) not of the runtime were left running after the host stopped");
    }

    /// <summary>This process's threads that are neither the runtime's own nor its pool's (nor the main thread).</summary>
    private static int ThreadsNotOfTheRuntime()
    {
        var names = Directory.EnumerateDirectories("/proc/self/task")
            .Select(task => TryRead(Path.Combine(task, "comm")))
            .OfType<string>()
            .ToList();
        var poolNamed = names.Count(name => name == ".NET TP Worker");
        var otherNamed = names.Count(name => !name.StartsWith(".NET ", StringComparison.Ordinal));
        return Math.Max(0, poolNamed - ThreadPool.ThreadCount) + otherNamed;
    }

    private static string? TryRead(string path)
    {
        try
        {
            return File.ReadAllText(path).TrimEnd('\n');
        }
        catch (IOException)
        {
            return null; // the thread ended meanwhile
        }
    }

    [Fact]
    public async Task PublishedOrders_AreProcessedOnceEach_WithTheirEnvelope()
    {
        await Environment.StartHostAsync();
        using var publishing = new Activity("place orders").SetIdFormat(ActivityIdFormat.W3C).Start();
        var ids = await Environment.PlaceOrdersAsync(100, i => new PublishOptions
        {
            PartitionKey = $"customer-{i % 5}",
            Headers = { ["tenant"] = "acme" },
        });
        publishing.Stop();

        await ShopEnvironment.WaitUntilAsync(async () => await Environment.CountPaymentsAsync() == 100, Timeout, "100 payments");
        await ShopEnvironment.WaitUntilAsync(async () => await Environment.CountOutboxAsync() == 0, Timeout, "an empty outbox");
        await using var check = Environment.CreatePaymentsContext();
        Assert.Equal(ids.Order(), (await check.Payments.Select(p => p.MessageId).ToListAsync(Ct)).Order());
        Assert.Equal(100, await check.Set<InboxRecord>().CountAsync(Ct));
        Assert.Equal(100, Environment.Probe.Invocations);

        var contexts = Environment.Probe.Contexts.ToList();
        Assert.All(contexts, c =>
        {
            Assert.Equal(ShopEnvironment.Consumer, c.Consumer);
            Assert.Equal(typeof(OrderPlaced).FullName, c.MessageType);
            Assert.Equal("acme", c.Headers["tenant"]);
            Assert.Contains(publishing.TraceId.ToHexString(), c.TraceParent, StringComparison.Ordinal);
        });
        foreach (var key in contexts.GroupBy(c => c.PartitionKey))
        {
            Assert.Equal(Enumerable.Range(1, 20).Select(i => (long?)i), key.Select(c => c.SequenceNumber).Order());
        }
    }

    [Fact]
    public async Task BatchedInbox_WaitingMessagesAreProcessedInSharedTransactions_OnceEachAndInKeyOrder()
    {
        // Everything is in the queue before the consumer starts, so its lanes find full batches waiting.
        var dispatching = await Environment.StartHostAsync(consumer: false);
        var ids = await Environment.PlaceOrdersAsync(600, i => new PublishOptions { PartitionKey = $"customer-{i % 10}" });
        await ShopEnvironment.WaitUntilAsync(async () => await Environment.CountOutboxAsync() == 0, Timeout, "an empty outbox");
        await dispatching.StopAsync(Ct);

        await Environment.StartHostAsync(
            dispatcher: false,
            configureConsumer: o =>
            {
                o.ConcurrentMessages = 2;
                o.PrefetchCount = 100;
            },
            configureInbox: o => o.MaxBatchSize = 25);
        await ShopEnvironment.WaitUntilAsync(async () => await Environment.CountPaymentsAsync() == 600, Timeout, "600 payments");

        await using var check = Environment.CreatePaymentsContext();
        Assert.Equal(ids.Order(), (await check.Payments.Select(p => p.MessageId).ToListAsync(Ct)).Order());
        Assert.Equal(600, Environment.Probe.Invocations); // no batch fell back: every handler ran once
        var transactions = Environment.Probe.DbContexts.Distinct().Count();
        Output.WriteLine($"600 messages in {transactions} inbox transactions.");
        Assert.True(transactions <= 600 / 5, $"Expected batches of several messages; 600 messages took {transactions} transactions.");
        foreach (var key in Environment.Probe.Contexts.GroupBy(c => c.PartitionKey))
        {
            // Handled in publish order per key (the probe's queue is in handling order).
            Assert.Equal(Enumerable.Range(1, 60).Select(i => (long?)i), key.Select(c => c.SequenceNumber));
        }
    }

    [Fact]
    public async Task UnroutableMessage_FailsAndIsRetried_UntilAQueueIsBound()
    {
        var unrouted = Environment.Exchange + ".unrouted";
        await Environment.StartHostAsync(
            consumer: false,
            configureDispatcher: o =>
            {
                o.MaxAttempts = 1000;
                o.RetryBaseDelay = TimeSpan.FromMilliseconds(100);
                o.RetryMaxDelay = TimeSpan.FromMilliseconds(300);
            },
            configureRabbitMq: o => o.AddExchange(unrouted));
        var id = Assert.Single(await Environment.PlaceOrdersAsync(1, _ => new PublishOptions { Destination = unrouted }));

        OutboxRecord? row = null;
        await ShopEnvironment.WaitUntilAsync(
            async () =>
            {
                await using var context = Environment.CreateOrdersContext();
                row = await context.Set<OutboxRecord>().AsNoTracking().SingleOrDefaultAsync(Ct);
                return row is { Attempts: >= 2, LastError: not null };
            },
            Timeout,
            "the unroutable message to be retried");
        Assert.Contains(nameof(RabbitMqUnroutableException), row!.LastError, StringComparison.Ordinal);
        Assert.Contains("No queue is bound", row.LastError, StringComparison.Ordinal);

        // Someone binds a queue: the next retry gets through.
        var queue = Environment.Queue + ".late";
        await using var connection = await Environment.ConnectAsync();
        await using var channel = await connection.CreateChannelAsync(cancellationToken: Ct);
        await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: true, cancellationToken: Ct);
        await channel.QueueBindAsync(queue, unrouted, "#", cancellationToken: Ct);
        await ShopEnvironment.WaitUntilAsync(async () => await Environment.CountOutboxAsync() == 0, Timeout, "the message to be delivered");
        var delivered = await channel.BasicGetAsync(queue, autoAck: true, Ct);
        Assert.Equal(id.ToString(), delivered?.BasicProperties.MessageId);
        await channel.QueueDeleteAsync(queue, cancellationToken: Ct);
    }

    [Fact]
    public async Task UnroutableMessages_AreDeadLetteredAfterMaxAttemptsWithTheBrokersReason_WhileRoutableOnesAreAllDelivered()
    {
        // The scenario of issue 12: 10 messages to an exchange with no queue bound, next to 300 ordinary ones.
        var unrouted = Environment.Exchange + ".unrouted";
        using var metrics = new DestinationMetrics();
        await Environment.StartHostAsync(
            configureDispatcher: o =>
            {
                o.MaxAttempts = 3;
                o.RetryBaseDelay = TimeSpan.FromMilliseconds(100);
                o.RetryMaxDelay = TimeSpan.FromMilliseconds(300);
            },
            configureRabbitMq: o => o.AddExchange(unrouted));
        var started = Stopwatch.GetTimestamp();
        var bad = await Environment.PlaceOrdersAsync(10, _ => new PublishOptions { Destination = unrouted }, prefix: "U");
        var good = await Environment.PlaceOrdersAsync(300, i => new PublishOptions { PartitionKey = $"customer-{i % 10}" });

        await ShopEnvironment.WaitUntilAsync(async () => await Environment.CountPaymentsAsync() == 300, Timeout, "300 payments");
        var healthyDone = Stopwatch.GetElapsedTime(started);
        await ShopEnvironment.WaitUntilAsync(async () => await Environment.CountOutboxAsync() == 0, Timeout, "an empty outbox");

        await using var orders = Environment.CreateOrdersContext();
        var dead = await orders.Set<DeadLetterRecord>().AsNoTracking().ToListAsync(Ct);
        Assert.Equal(bad.Order(), dead.Select(d => d.MessageId).Order());
        Assert.All(dead, d =>
        {
            Assert.Equal(3, d.Attempts);
            Assert.Contains("Failed 3 attempt(s)", d.Reason, StringComparison.Ordinal);
            Assert.Contains("312 NO_ROUTE", d.Reason, StringComparison.Ordinal); // the broker's own reason
        });
        await using var payments = Environment.CreatePaymentsContext();
        Assert.Equal(good.Order(), (await payments.Payments.Select(p => p.MessageId).ToListAsync(Ct)).Order());

        // Neither destination's breaker opened: the unroutable ones were the messages' failures, not the broker's.
        Assert.Equal(0, metrics.CircuitRefused(unrouted) + metrics.CircuitRefused(Environment.Exchange));
        Assert.Equal(30, metrics.Failed(unrouted)); // 3 attempts each, no immediate in-process retries
        Assert.Equal(0, metrics.Failed(Environment.Exchange));
        var (p50, p99) = metrics.Latency(Environment.Exchange);
        Output.WriteLine($"healthy: 300 delivered in {healthyDone.TotalSeconds:0.00} s, latency p50 {p50 * 1000:0} ms, p99 {p99 * 1000:0} ms; unroutable: {dead.Count} dead-lettered");
    }

    [Fact]
    public async Task OversizedMessage_IsDeadLetteredByTheDispatcherWithTheReason()
    {
        await Environment.StartHostAsync(consumer: false, configureRabbitMq: o => o.MaxMessageSize = 64);
        await Environment.PlaceOrdersAsync(1, _ => new PublishOptions { Headers = { ["note"] = "big" } }, prefix: new string('x', 100));

        await ShopEnvironment.WaitUntilAsync(async () => await Environment.CountOutboxAsync() == 0, Timeout, "the message to leave the outbox");
        await using var context = Environment.CreateOrdersContext();
        var dead = await context.Set<DeadLetterRecord>().SingleAsync(Ct);
        Assert.Contains("MaxMessageSize (64)", dead.Reason, StringComparison.Ordinal);
        Assert.Equal(1, dead.Attempts);
    }

    [Fact]
    public async Task BrokerRestartedWhile5000MessagesAreDispatched_AllAreProcessedExactlyOnce()
    {
        const int Count = 5000;
        const int Chunk = 50;
        if (!Environment.Broker.CanRestart)
        {
            Assert.Skip($"The {Environment.Broker.Source} broker cannot be restarted by the tests (only a local rabbitmq-server can).");
        }

        using var failures = new CounterListener("outbox.messages.failed");
        var started = Stopwatch.StartNew();
        await Environment.StartHostAsync(
            configureDispatcher: o =>
            {
                o.MaxAttempts = 1000; // the outage must not dead-letter anything
                o.RetryBaseDelay = TimeSpan.FromMilliseconds(100);
                o.RetryMaxDelay = TimeSpan.FromSeconds(1);
            },
            configureConsumer: o =>
            {
                o.ConcurrentMessages = 8;
                o.PrefetchCount = 100;
            });

        // Orders keep coming while the broker goes away and comes back: the outbox holds what cannot be sent.
        var ids = new List<Guid>(Count);
        var producer = Task.Run(async () =>
        {
            for (var i = 0; i < Count / Chunk; i++)
            {
                ids.AddRange(await Environment.PlaceOrdersAsync(Chunk, prefix: $"R{i}"));
                await Task.Delay(15, Ct);
            }
        }, Ct);

        await ShopEnvironment.WaitUntilAsync(async () => await Environment.CountPaymentsAsync() >= Count / 5, Timeout, "the first fifth to be processed");
        var before = await Environment.CountPaymentsAsync();
        var restart = Stopwatch.StartNew();
        await Environment.Broker.RestartAsync(Ct);
        restart.Stop();
        var outboxAfter = await Environment.CountOutboxAsync();
        Output.WriteLine(
            $"Broker restarted (stop_app, start_app) in {restart.Elapsed.TotalSeconds:0.0} s after {before} messages were processed; " +
            $"{ids.Count} orders placed so far, {outboxAfter} waiting in the outbox right after the restart.");

        await producer;
        await ShopEnvironment.WaitUntilAsync(
            async () => await Environment.CountPaymentsAsync() >= Count && await Environment.CountOutboxAsync() == 0,
            TimeSpan.FromMinutes(3),
            $"all {Count} messages after the restart");
        var drained = started.Elapsed;
        await Task.Delay(TimeSpan.FromSeconds(1), Ct); // a late redelivery would arrive now: it must be skipped

        await using var check = Environment.CreatePaymentsContext();
        var processed = await check.Payments.Select(p => p.MessageId).ToListAsync(Ct);
        Assert.Equal(Count, processed.Count); // each once: a duplicate effect would be an extra row
        Assert.Equal(ids.Order(), processed.Order()); // none lost
        Assert.Equal(Count, await check.Set<InboxRecord>().CountAsync(Ct));
        Assert.Equal(0, await check.Set<InboxDeadLetterRecord>().CountAsync(Ct));
        await using var orders = Environment.CreateOrdersContext();
        Assert.Equal(0, await orders.Set<DeadLetterRecord>().CountAsync(Ct));
        Output.WriteLine(
            $"All {Count} processed once, {drained.TotalSeconds:0.0} s from start; {failures.Total} send attempt(s) failed during the outage and were retried; " +
            $"the inbox skipped {Environment.Recorder.Count(InboxOutcomeKind.Duplicate)} redelivered duplicate(s).");
    }

    /// <summary>Sums one counter of the library's meter while alive.</summary>
    private sealed class CounterListener : IDisposable
    {
        private readonly System.Diagnostics.Metrics.MeterListener _listener = new();
        private long _total;

        public CounterListener(string instrument)
        {
            _listener.InstrumentPublished = (i, l) =>
            {
                if (i.Meter.Name == OutboxTelemetry.MeterName && i.Name == instrument)
                {
                    l.EnableMeasurementEvents(i);
                }
            };
            _listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref _total, value));
            _listener.Start();
        }

        public long Total => Interlocked.Read(ref _total);

        public void Dispose() => _listener.Dispose();
    }
}
