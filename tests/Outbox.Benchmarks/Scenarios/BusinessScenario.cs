using System.Data.Common;
using System.Diagnostics;
using System.Globalization;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Outbox.Benchmarks.Infrastructure;
using Outbox.Benchmarks.Reporting;
using Outbox.RabbitMQ;
using Outbox.TestInfrastructure;

namespace Outbox.Benchmarks.Scenarios;

/// <summary>
/// <c>business</c>: the workload of a service that owns its data. P producer tasks (default 8) each commit business
/// transactions one after another as fast as they can: an order row and its OrderPlaced message (<c>Publish</c>, one
/// <c>SaveChanges</c>) on PostgreSQL. The dispatcher in the same process (woken by the commits) sends them to RabbitMQ,
/// and a consumer in the same process writes one payment row per message through the EF inbox. In the same run, first
/// the same producers commit the same transactions without any outbox (the order row alone, a context without
/// <c>UseOutbox</c>): the baseline, what the database commits for this business alone. Reports the producers' rate,
/// the delivered rate (N / time from the first commit until the last payment committed), <c>ratio</c> = delivered /
/// baseline, commit → handled latency (producer's commit returned → the consumer's transaction with the payment row
/// committed, HdrHistogram), and CPU milliseconds per message of this process, the PostgreSQL server and the RabbitMQ
/// node. Last, the reference the ratio can be read against: the application's own work with no messaging (each order
/// row followed by its payment row in a transaction of its own), <c>application_alone_ratio</c>. The consumer runs with
/// the library's defaults unless <c>--lanes</c>, <c>--prefetch</c> or <c>--inbox-batch</c> is given (and not
/// <c>--defaults</c>); <c>--context-pool on</c> registers every context (the baseline's too) with <c>AddDbContextPool</c>.
/// </summary>
public static class BusinessScenario
{
    public const int DefaultMessages = 4_000;
    public const int DefaultProducers = 8;
    private const string Consumer = "bench-business-payments";

    public static async Task RunAsync(BenchContext context, BenchDatabase database, Report report)
    {
        var options = context.Options;
        var ct = context.Cancellation;
        var log = context.Log;
        var messages = options.Messages ?? DefaultMessages;
        var producerCount = options.ProducersOption ?? DefaultProducers;
        var tuned = !options.Defaults && (options.LanesOption is not null || options.Prefetch is not null || options.InboxBatch is not null);
        var amqp = options.Amqp ?? (await RabbitMqServer.AcquireAsync(ct)).AmqpUri;
        var (exchange, queue, topology) = RabbitMqScenario.UniqueTopology(amqp, "business-", "outbox-bench-business");

        var tracker = new LatencyTracker();
        var inbox = await RabbitMqScenario.InboxDatabase.CreateAsync(database, ct);
        try
        {
            await using var fleet = DispatcherFleet.Build(database, options, outbox => outbox.UseRabbitMq(topology), log, wakeup: true);
            using var consumer = EndToEndPhase.BuildConsumer(
                inbox,
                options,
                Consumer,
                services => services.Configure<RabbitMqOptions>(topology),
                c => c.UseRabbitMq(o => RabbitMqScenario.TuneConsumer(o, queue, options, libraryDefaults: !tuned)),
                log,
                libraryDefaults: !tuned,
                configureContext: b => b.AddInterceptors(new CommitStamp(tracker)));
            var consumerOptions = consumer.Services.GetRequiredService<IOptionsMonitor<RabbitMqConsumerOptions>>().Get(Consumer);
            var inboxOptions = consumer.Services.GetRequiredService<IOptionsMonitor<InboxConsumerOptions>>().Get(Consumer);
            report.Set("messages", messages)
                .Set("producers", producerCount)
                .Set("consumer_settings", tuned ? "tuned" : "defaults")
                .Set("lanes", consumerOptions.ConcurrentMessages)
                .Set("prefetch", consumerOptions.PrefetchCount)
                .Set("inbox_batch", inboxOptions.MaxBatchSize)
                .Set("dispatchers", fleet.Hosts)
                .Set("concurrency", fleet.Options.Concurrency)
                .Set("batch", fleet.Options.BatchSize)
                .Set("broker", $"{amqp.Host}:{amqp.Port}");

            await fleet.StartAsync(ct);
            await consumer.StartAsync(ct);
            var plainServices = new ServiceCollection()
                .AddBenchContext<BenchDbContext>(options, (_, b) => database.Configure(b))
                .AddBenchContext<BenchInboxDbContext>(options, (_, b) => inbox.Configure(b))
                .BuildServiceProvider();
            await using (plainServices)
            {
                var producers = new Producers(database, tracker, producerCount);
                long warm = 0;
                if (options.Warmup)
                {
                    warm = Math.Min(messages, 400);
                    await log.WriteLineAsync($"Warm-up: {warm:N0} transactions without and with the outbox, end to end (not measured) ...");
                    await producers.RunAsync(plainServices, (int)warm, publish: false, measure: false, ct);
                    await producers.RunAsync(fleet.PrimaryServices, (int)warm, publish: true, measure: false, ct);
                    await Wait.UntilAsync(async () => await inbox.CountPaymentsAsync(ct) >= warm, TimeSpan.FromMilliseconds(20), context.Timeout, "the warm-up messages were handled", ct);
                }

                await database.PrepareForRunAsync(ct);
                await log.WriteLineAsync($"Baseline: {producerCount} producer(s) commit {messages:N0} order rows without the outbox ...");
                var baseline = await MeasureAsync(context, producers, plainServices, tracker, messages, publish: false, "baseline");
                // Publish's own cost: the same transactions with their messages while nothing delivers (the dispatcher is
                // paused, so neither it nor the consumer competes for the database); delivered afterwards, not measured.
                await log.WriteLineAsync($"Publish alone: {producerCount} producer(s) commit {messages:N0} order rows + messages, the dispatcher paused ...");
                await fleet.Stats.PauseAsync();
                var publishOnly = await MeasureAsync(context, producers, fleet.PrimaryServices, tracker, messages, publish: true, "publish", delivered: false);
                fleet.Stats.Paused = false;
                fleet.NotifyAll();
                await Wait.UntilAsync(async () => await inbox.CountPaymentsAsync(ct) >= warm + messages, TimeSpan.FromMilliseconds(20), context.Timeout, "the publish-alone messages were handled", ct);
                warm += messages;
                await database.PrepareForRunAsync(ct);
                await log.WriteLineAsync(
                    $"Outbox: {producerCount} producer(s) commit {messages:N0} order rows + messages -> {queue} -> consumer with {consumerOptions.ConcurrentMessages} lane(s), " +
                    $"prefetch {consumerOptions.PrefetchCount}, inbox batch {inboxOptions.MaxBatchSize} ...");
                var run = await MeasureAsync(context, producers, fleet.PrimaryServices, tracker, messages, publish: true, "business");
                await consumer.StopAsync(CancellationToken.None);
                await fleet.StopAsync();
                var (payments, distinct, _) = await EndToEndPhase.VerifyAsync(inbox, report, warm + messages, check: true, ct);
                var latency = new LatencyHistogram(); // kept: the next phase resets the tracker's
                latency.Merge(tracker.Latency);

                // The reference the ratio can be read against: the same business work with no messaging at all. Each
                // producer commits the order row and then, in a transaction of its own, the payment row the consumer
                // would write; on a machine where the producers, the consumer's work and the database share the cores,
                // this is about what any messaging design could reach before paying for its own reads and writes.
                await database.PrepareForRunAsync(ct);
                await log.WriteLineAsync($"Application alone: {producerCount} producer(s) commit {messages:N0} order rows, each followed by its payment row in a transaction of its own (no outbox, no broker, no inbox) ...");
                var alone = await MeasureAsync(context, producers, plainServices, tracker, messages, publish: false, "alone", pay: true);

                report.Set("producer_tx_per_s", run.ProducerRate)
                    .Set("baseline_tx_per_s", baseline.ProducerRate)
                    .Set("delivered_msgs_per_s", run.DeliveredRate)
                    .Set("ratio", run.DeliveredRate / baseline.ProducerRate)
                    .Set("publish_rate_ratio", run.ProducerRate / baseline.ProducerRate)
                    .Set("application_alone_msgs_per_s", alone.ProducerRate)
                    .Set("application_alone_ratio", alone.ProducerRate / baseline.ProducerRate)
                    .Set("context_pool", options.ContextPool)
                    .Set("publish_alone_tx_per_s", publishOnly.ProducerRate)
                    .Set("publish_alone_rate_ratio", publishOnly.ProducerRate / baseline.ProducerRate)
                    .Set("publish_alone_commit_ms_p50", publishOnly.CommitP50)
                    .Set("publish_alone_cpu_self_ms_per_tx", publishOnly.SelfMs)
                    .Set("publish_alone_cpu_db_ms_per_tx", publishOnly.DatabaseMs)
                    .Set("p50_ms", latency.PercentileMs(50))
                    .Set("p95_ms", latency.PercentileMs(95))
                    .Set("p99_ms", latency.PercentileMs(99))
                    .Set("max_ms", latency.MaxMs)
                    .Set("handled_measured", latency.Count)
                    .Set("commit_ms_p50", run.CommitP50)
                    .Set("commit_ms_p99", run.CommitP99)
                    .Set("baseline_commit_ms_p50", baseline.CommitP50)
                    .Set("baseline_commit_ms_p99", baseline.CommitP99)
                    .Set("cpu_self_ms_per_msg", run.SelfMs)
                    .Set("cpu_db_ms_per_msg", run.DatabaseMs)
                    .Set("cpu_broker_ms_per_msg", run.BrokerMs)
                    .Set("cpu_total_ms_per_msg", run.TotalMs)
                    .Set("baseline_cpu_self_ms_per_tx", baseline.SelfMs)
                    .Set("baseline_cpu_db_ms_per_tx", baseline.DatabaseMs)
                    .Set("baseline_cpu_broker_ms_per_tx", baseline.BrokerMs)
                    .Set("cpu_machine_cores", run.Usage.Machine)
                    .Set("cpu_others_cores", run.Usage.Others - (run.BrokerCores ?? 0))
                    .Set("duplicates_processed", payments - distinct);

                report.AddRow("phase", "transactions", "seconds", "producer tx/s", "delivered msg/s", "commit p50 ms", "commit p99 ms", "CPU ms/msg: process", "PostgreSQL", "RabbitMQ");
                report.AddRow("baseline (order row, no outbox)", Report.Number(messages), Report.Number(baseline.Elapsed.TotalSeconds), Report.Number(baseline.ProducerRate), "-",
                    Ms(baseline.CommitP50), Ms(baseline.CommitP99), Ms(baseline.SelfMs), Ms(baseline.DatabaseMs), Ms(baseline.BrokerMs));
                report.AddRow("publish alone (order row + Publish, dispatcher paused)", Report.Number(messages), Report.Number(publishOnly.Elapsed.TotalSeconds), Report.Number(publishOnly.ProducerRate), "-",
                    Ms(publishOnly.CommitP50), Ms(publishOnly.CommitP99), Ms(publishOnly.SelfMs), Ms(publishOnly.DatabaseMs), Ms(publishOnly.BrokerMs));
                report.AddRow("application alone (order row, then payment row; no messaging)", Report.Number(messages), Report.Number(alone.Elapsed.TotalSeconds), Report.Number(alone.ProducerRate), "-",
                    Ms(alone.CommitP50), Ms(alone.CommitP99), Ms(alone.SelfMs), Ms(alone.DatabaseMs), Ms(alone.BrokerMs));
                report.AddRow("outbox (order row + Publish) -> RabbitMQ -> inbox", Report.Number(messages), Report.Number(run.Elapsed.TotalSeconds), Report.Number(run.ProducerRate),
                    Report.Number(run.DeliveredRate), Ms(run.CommitP50), Ms(run.CommitP99), Ms(run.SelfMs), Ms(run.DatabaseMs), Ms(run.BrokerMs));
                report.AddNote(
                    $"ratio = delivered / baseline = {Report.Number(run.DeliveredRate / baseline.ProducerRate)} (the application's own work without messaging, " +
                    $"order then payment: {Report.Number(alone.ProducerRate / baseline.ProducerRate)} of the baseline); commit -> handled (payment committed) p50 {Ms(latency.PercentileMs(50))} ms, " +
                    $"p95 {Ms(latency.PercentileMs(95))} ms, p99 {Ms(latency.PercentileMs(99))} ms, max {Ms(latency.MaxMs)} ms over {latency.Count:N0} messages.");
                report.AddNote(
                    $"Consumer ({(tuned ? "tuned" : "library defaults")}): {consumerOptions.ConcurrentMessages} lane(s), prefetch {consumerOptions.PrefetchCount}, inbox batch {inboxOptions.MaxBatchSize}. " +
                    $"CPU (cores busy, of {Environment.ProcessorCount}) in the outbox phase: machine {Report.Number(run.Usage.Machine)}, this process {Report.Number(run.Usage.Self)}, " +
                    $"PostgreSQL {Report.Number(run.Usage.Server)}, RabbitMQ {Report.Number(run.BrokerCores)} (a shared node: its other clients count too; see the baseline's figure), " +
                    $"others {Report.Number(run.Usage.Others - (run.BrokerCores ?? 0))}.");
                report.AddNote($"Verified: {payments:N0} payments from {distinct:N0} distinct messages (warm-up {warm:N0} included).");
            }
        }
        finally
        {
            await RabbitMqScenario.DeleteTopologyAsync(amqp, exchange, queue, log);
            await inbox.DisposeAsync();
        }
    }

    private static async Task<Phase> MeasureAsync(
        BenchContext context, Producers producers, IServiceProvider services, LatencyTracker tracker, int messages, bool publish, string name, bool delivered = true, bool pay = false)
    {
        var ct = context.Cancellation;
        producers.CommitLatency.Reset();
        tracker.Latency.Reset();
        var handledBefore = tracker.DeliveredCount;
        var broker = RabbitMqScenario.BrokerCpuSeconds();
        var cpu = CpuSample.Take();
        var started = Stopwatch.GetTimestamp();
        TimeSpan produced;
        await using (Progress.Start(context.Log, () =>
        {
            var t = Stopwatch.GetElapsedTime(started).TotalSeconds;
            return $"  [{name}] {t,6:0.0}s  committed {producers.Committed,9:N0} ({producers.Committed / t,7:N0}/s)  handled {tracker.DeliveredCount - handledBefore,9:N0}";
        }))
        {
            await producers.RunAsync(services, messages, publish, measure: true, ct, track: publish && delivered, pay: pay);
            produced = Stopwatch.GetElapsedTime(started);
            if (publish && delivered)
            {
                await Wait.UntilAsync(() => tracker.DeliveredCount - handledBefore >= messages, TimeSpan.FromMilliseconds(5), context.Timeout, $"all {messages:N0} messages were handled", ct);
            }
        }

        var elapsed = Stopwatch.GetElapsedTime(started);
        var usage = CpuSample.Take().CoresSince(cpu);
        var brokerSeconds = RabbitMqScenario.BrokerCpuSeconds() - broker;
        return new Phase(messages, produced, elapsed, usage, brokerSeconds, producers.CommitLatency.PercentileMs(50), producers.CommitLatency.PercentileMs(99));
    }

    private static string Ms(double? value) => value is null ? "-" : value.Value.ToString("0.00", CultureInfo.InvariantCulture);

    /// <summary>What one measured phase saw: rates, commit latency, CPU per message by process.</summary>
    private sealed record Phase(int Messages, TimeSpan Produced, TimeSpan Elapsed, CpuUsage Usage, double? BrokerSeconds, double? CommitP50, double? CommitP99)
    {
        public double ProducerRate => Messages / Produced.TotalSeconds;

        public double DeliveredRate => Messages / Elapsed.TotalSeconds;

        public double? BrokerCores => BrokerSeconds / Elapsed.TotalSeconds;

        public double SelfMs => Usage.Self * Elapsed.TotalSeconds * 1000 / Messages;

        public double? DatabaseMs => Usage.Server * Elapsed.TotalSeconds * 1000 / Messages;

        public double? BrokerMs => BrokerSeconds * 1000 / Messages;

        public double TotalMs => SelfMs + (DatabaseMs ?? 0) + (BrokerMs ?? 0);
    }

    /// <summary>P producer tasks committing a fixed number of business transactions between them, each as fast as it can (closed loop).</summary>
    private sealed class Producers(BenchDatabase database, LatencyTracker tracker, int count)
    {
        private long _committed;

        public long Committed => Interlocked.Read(ref _committed);

        public LatencyHistogram CommitLatency { get; } = new();

        /// <param name="track">Whether the messages' commit → handled latency is tracked (measured, published and delivered).</param>
        /// <param name="pay">Whether each order is followed by its payment row, committed in a transaction of its own (no messaging).</param>
        public async Task RunAsync(IServiceProvider services, int transactions, bool publish, bool measure, CancellationToken cancellationToken, bool track = true, bool pay = false)
        {
            Interlocked.Exchange(ref _committed, 0);
            long left = transactions;
            await Task.WhenAll(Enumerable.Range(0, count).Select(_ => Task.Run(
                async () =>
                {
                    while (Interlocked.Decrement(ref left) >= 0)
                    {
                        var order = await CommitOneAsync(services, publish, measure, measure && track, cancellationToken);
                        if (pay)
                        {
                            await PayAsync(services, order, cancellationToken);
                        }
                    }
                },
                cancellationToken)));
        }

        private static async Task PayAsync(IServiceProvider services, BenchOrder order, CancellationToken cancellationToken)
        {
            await using var scope = services.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<BenchInboxDbContext>();
            db.Payments.Add(new BenchPayment { Id = Guid.CreateVersion7(), MessageId = Guid.CreateVersion7(), OrderId = order.Id, Number = order.Number, Amount = order.Total });
            await db.SaveChangesAsync(cancellationToken);
        }

        private async Task<BenchOrder> CommitOneAsync(IServiceProvider services, bool publish, bool measure, bool track, CancellationToken cancellationToken)
        {
            await using var scope = services.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<BenchDbContext>();
            var orderId = Guid.CreateVersion7();
            var order = new BenchOrder { Id = orderId, Number = BenchDatabase.OrderNumber(orderId), Total = 42.50m, CreatedAt = DateTime.UtcNow };
            db.Orders.Add(order);
            Guid? messageId = null;
            if (publish)
            {
                messageId = db.Publish(new OrderPlaced(order.Id, order.Number, order.Total), new PublishOptions { PartitionKey = database.NextPartitionKey(orderId) });
                if (track)
                {
                    tracker.Register(messageId.Value);
                }
                else
                {
                    messageId = null;
                }
            }

            var started = Stopwatch.GetTimestamp();
            try
            {
                await db.SaveChangesAsync(cancellationToken);
            }
            catch
            {
                if (messageId is { } id)
                {
                    tracker.Abandon(id);
                }

                throw;
            }

            var committed = Stopwatch.GetTimestamp();
            if (messageId is { } tracked)
            {
                tracker.Committed(tracked, committed);
            }

            if (measure)
            {
                CommitLatency.RecordTicks(committed - started);
            }

            Interlocked.Increment(ref _committed);
            return order;
        }
    }

    /// <summary>
    /// Stamps the messages a consumer context handled when its transaction commits: that is when the payment row is
    /// durable, so commit → handled covers the whole path. A transaction that starts or rolls back forgets them.
    /// </summary>
    private sealed class CommitStamp(LatencyTracker tracker) : DbTransactionInterceptor
    {
        public override ValueTask<DbTransaction> TransactionStartedAsync(DbConnection connection, TransactionEndEventData eventData, DbTransaction result, CancellationToken cancellationToken = default)
        {
            Forget(eventData.Context);
            return ValueTask.FromResult(result);
        }

        public override Task TransactionCommittedAsync(DbTransaction transaction, TransactionEndEventData eventData, CancellationToken cancellationToken = default)
        {
            if (eventData.Context is BenchInboxDbContext context)
            {
                var now = Stopwatch.GetTimestamp();
                foreach (var id in context.Uncommitted)
                {
                    tracker.OnDelivered(id, now);
                }

                context.Uncommitted.Clear();
            }

            return Task.CompletedTask;
        }

        public override Task TransactionRolledBackAsync(DbTransaction transaction, TransactionEndEventData eventData, CancellationToken cancellationToken = default)
        {
            Forget(eventData.Context);
            return Task.CompletedTask;
        }

        public override Task TransactionFailedAsync(DbTransaction transaction, TransactionErrorEventData eventData, CancellationToken cancellationToken = default)
        {
            Forget(eventData.Context);
            return Task.CompletedTask;
        }

        private static void Forget(DbContext? context) => (context as BenchInboxDbContext)?.Uncommitted.Clear();
    }
}
