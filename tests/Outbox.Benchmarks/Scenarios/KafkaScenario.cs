using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Outbox.Benchmarks.Baselines;
using Outbox.Benchmarks.Infrastructure;
using Outbox.Benchmarks.Options;
using Outbox.Benchmarks.Reporting;
using Outbox.Kafka;
using Outbox.TestInfrastructure;

namespace Outbox.Benchmarks.Scenarios;

/// <summary>
/// <c>kafka</c>: end to end through Kafka. N messages wait in the outbox; D dispatcher hosts send them with the real
/// <c>UseKafka</c> transport (idempotent producer, acks=all, each batch's delivery reports awaited together) to a topic
/// of P partitions, keyed by nothing (the dispatcher's rows are unkeyed here, as in the rabbitmq scenario), and a
/// consumer host (<c>AddOutboxConsumer</c> + <c>UseKafka</c>, the real EF inbox, a lane per partition) processes each
/// one: an inbox row and a payment row committed together, then the offsets committed. Timed from the dispatchers'
/// wake-up until every payment is committed. The raw ceiling in the same run: a Confluent.Kafka producer with the same
/// settings and a consumer, no library code and no database.
/// </summary>
public static class KafkaScenario
{
    public const int DefaultMessages = 100_000;
    private const string Consumer = "bench-payments";

    public static async Task RunAsync(BenchContext context, BenchDatabase database, Report report)
    {
        var options = context.Options;
        var ct = context.Cancellation;
        var log = context.Log;
        var messages = options.Messages ?? DefaultMessages;
        var server = options.Kafka is null ? await KafkaServer.AcquireAsync(ct) : null;
        var bootstrap = options.Kafka ?? server!.BootstrapServers;
        var suffix = Guid.NewGuid().ToString("N")[..8];
        var topic = $"outbox-bench.{suffix}.orders";
        if (server is not null)
        {
            await server.CreateTopicAsync(topic, options.Partitions, ct);
        }

        void Connection(KafkaOptions o)
        {
            o.BootstrapServers = bootstrap;
            o.ClientId = "outbox-bench";
            o.TopicFor = _ => topic;
        }

        var inbox = await RabbitMqScenario.InboxDatabase.CreateAsync(database, ct);
        try
        {
            await using var fleet = DispatcherFleet.Build(database, options, outbox => outbox.UseKafka(Connection), log, wakeup: false);
            using var consumer = BuildConsumer(inbox, options, Connection, topic, log);
            var consumerOptions = consumer.Services.GetRequiredService<Microsoft.Extensions.Options.IOptionsMonitor<KafkaConsumerOptions>>().Get(Consumer);
            var inboxOptions = consumer.Services.GetRequiredService<Microsoft.Extensions.Options.IOptionsMonitor<InboxConsumerOptions>>().Get(Consumer);
            report.Set("messages", messages)
                .Set("dispatchers", fleet.Hosts)
                .Set("concurrency", fleet.Options.Concurrency)
                .Set("batch", fleet.Options.BatchSize)
                .Set("partitions", options.Partitions)
                .Set("lanes", consumerOptions.ConcurrentPartitions)
                .Set("inbox_batch", inboxOptions.MaxBatchSize)
                .Set("consumer", options.Consumer)
                .Set("cluster", server?.Source ?? "given");

            await fleet.Stats.PauseAsync();
            await fleet.StartAsync(ct);
            if (options.Consumer)
            {
                await consumer.StartAsync(ct);
            }

            var processed = await EndToEndPhase.WarmUpAsync(context, database, fleet, inbox, messages, options.Consumer);
            var (target, elapsed, outboxEmptyAfter, usage, _) = await EndToEndPhase.MeasureAsync(
                context,
                database,
                fleet,
                inbox,
                consumer,
                "kafka",
                messages,
                processed,
                options.Consumer,
                $"Measuring: {fleet.Hosts} dispatcher host(s) x {fleet.Options.Concurrency} loop(s), batch {fleet.Options.BatchSize} -> {topic} ({options.Partitions} partitions) -> " +
                $"consumer with {consumerOptions.ConcurrentPartitions} lane(s), inbox batch {inboxOptions.MaxBatchSize} ...");
            var (payments, distinct, deadLetters) = await EndToEndPhase.VerifyAsync(inbox, report, target, options.Consumer, ct);

            BaselineResult? ceiling = null;
            if (options.Baseline)
            {
                var loops = fleet.Hosts * fleet.Options.Concurrency;
                var ceilingTopic = $"outbox-bench.{suffix}.ceiling";
                if (server is not null)
                {
                    await server.CreateTopicAsync(ceilingTopic, options.Partitions, ct);
                }

                await log.WriteLineAsync($"Cluster ceiling: {messages:N0} messages, {loops} producer loop(s) x batches of {fleet.Options.BatchSize} awaited together (idempotent, acks=all), one consumer, no database ...");
                var orderId = Guid.CreateVersion7();
                var payload = SystemTextJsonMessageSerializer.Default.Serialize(new OrderPlaced(orderId, BenchDatabase.OrderNumber(orderId), 42.50m), typeof(OrderPlaced));
                var ceilingCpu = CpuSample.Take();
                ceiling = await RawKafkaCeiling.RunAsync(bootstrap, ceilingTopic, messages, loops, fleet.Options.BatchSize, payload, log, ct);
                var ceilingUsage = CpuSample.Take().CoresSince(ceilingCpu);
                report.Set("baseline_cpu_machine_cores", ceilingUsage.Machine)
                    .Set("baseline_cpu_self_cores", ceilingUsage.Self)
                    .Set("baseline_msgs_per_s", ceiling.RowsPerSecond)
                    .Set("baseline_seconds", ceiling.Elapsed.TotalSeconds)
                    .Set("ratio", messages / elapsed.TotalSeconds / ceiling.RowsPerSecond);
            }

            EndToEndPhase.ReportStages(report, messages, elapsed, outboxEmptyAfter, usage, payments - distinct, "outbox -> Kafka (delivery reports, outbox empty)")
                .Set("cpu_others_cores", usage.Others)
                .Set("claims", fleet.Stats.Claims)
                .Set("claim_ms_p50", fleet.Stats.ClaimLatency.PercentileMs(50))
                .Set("ack_ms_p50", fleet.Stats.AckLatency.PercentileMs(50));

            if (ceiling is not null)
            {
                report.AddRow("cluster ceiling (raw Confluent.Kafka, no database)", Report.Number(ceiling.Rows), Report.Number(ceiling.Elapsed.TotalSeconds), Report.Number(ceiling.RowsPerSecond));
            }

            report.AddNote(
                $"CPU (cores busy, of {Environment.ProcessorCount}): machine {Report.Number(usage.Machine)}, this process (dispatchers + consumer) {Report.Number(usage.Self)}, " +
                $"database server {Report.Number(usage.Server)}, others (the mock cluster's helper process among them) {Report.Number(usage.Others)}.");
            report.AddNote($"Verified: {payments:N0} payments from {distinct:N0} distinct messages, {deadLetters:N0} dead letters.");
        }
        finally
        {
            await inbox.DisposeAsync();
        }
    }

    private static IHost BuildConsumer(RabbitMqScenario.InboxDatabase inbox, BenchOptions options, Action<KafkaOptions> connection, string topic, TextWriter log) =>
        EndToEndPhase.BuildConsumer(
            inbox,
            options,
            Consumer,
            services => services.Configure(connection),
            c => c.UseKafka(topic, o =>
            {
                o.GroupId = $"{topic}.group";
                o.ConcurrentPartitions = options.Lanes;
            }),
            log);
}
