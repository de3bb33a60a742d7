using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Outbox.ActiveMQ;
using Outbox.Benchmarks.Baselines;
using Outbox.Benchmarks.Infrastructure;
using Outbox.Benchmarks.Options;
using Outbox.Benchmarks.Reporting;
using Outbox.TestInfrastructure;

namespace Outbox.Benchmarks.Scenarios;

/// <summary>
/// <c>activemq</c>: end to end through a real ActiveMQ over STOMP. N messages wait in the outbox; D dispatcher hosts send
/// them with the real <c>UseActiveMq</c> transport (persistent, each SEND confirmed by a receipt, a batch pipelined) to a
/// queue, and a consumer host (<c>AddOutboxConsumer</c> + <c>UseActiveMq</c>, the real EF inbox) processes each one: an
/// inbox row and a payment row committed together, then the ACK. Timed from the dispatchers' wake-up until every payment
/// is committed. <c>--baseline</c> runs the raw STOMP ceiling in the same run (<see cref="RawStompCeiling"/>). Broker:
/// <c>OUTBOX_TEST_ACTIVEMQ</c>, else a throwaway local broker from the Debian install.
/// </summary>
public static class ActiveMqScenario
{
    public const int DefaultMessages = 50_000;
    private const string Consumer = "bench-payments";

    public static async Task RunAsync(BenchContext context, BenchDatabase database, Report report)
    {
        var options = context.Options;
        var ct = context.Cancellation;
        var log = context.Log;
        var messages = options.Messages ?? DefaultMessages;
        var broker = await ActiveMqServer.AcquireAsync(ct);
        var queue = $"/queue/outbox-bench.{Guid.NewGuid().ToString("N")[..8]}.payments";
        void Connection(ActiveMqOptions o)
        {
            o.Uri = broker.StompUri;
            o.DestinationFor = _ => queue;
        }

        var prefetch = options.Prefetch ?? Math.Clamp(options.Lanes * (options.InboxBatch ?? new InboxConsumerOptions().MaxBatchSize) * 2, 32, 65_535);
        var inbox = await RabbitMqScenario.InboxDatabase.CreateAsync(database, ct);
        try
        {
            await using var fleet = DispatcherFleet.Build(database, options, outbox => outbox.UseActiveMq(Connection), log, wakeup: false);
            using var consumer = BuildConsumer(inbox, options, Connection, queue, prefetch, log);
            var inboxOptions = consumer.Services.GetRequiredService<Microsoft.Extensions.Options.IOptionsMonitor<InboxConsumerOptions>>().Get(Consumer);
            report.Set("messages", messages)
                .Set("dispatchers", fleet.Hosts)
                .Set("concurrency", fleet.Options.Concurrency)
                .Set("batch", fleet.Options.BatchSize)
                .Set("lanes", options.Lanes)
                .Set("prefetch", prefetch)
                .Set("inbox_batch", inboxOptions.MaxBatchSize)
                .Set("broker", $"{broker.Source} {broker.StompUri.Host}:{broker.StompUri.Port}");

            await fleet.Stats.PauseAsync();
            await fleet.StartAsync(ct);
            await consumer.StartAsync(ct);
            var processed = await EndToEndPhase.WarmUpAsync(context, database, fleet, inbox, messages, consumer: true);
            var (target, elapsed, outboxEmptyAfter, usage, _) = await EndToEndPhase.MeasureAsync(
                context,
                database,
                fleet,
                inbox,
                consumer,
                "activemq",
                messages,
                processed,
                consumer: true,
                $"Measuring: {fleet.Hosts} dispatcher host(s) x {fleet.Options.Concurrency} loop(s), batch {fleet.Options.BatchSize} -> {queue} -> " +
                $"consumer with {options.Lanes} lane(s), prefetch {prefetch}, inbox batch {inboxOptions.MaxBatchSize} ...");
            var (payments, distinct, deadLetters) = await EndToEndPhase.VerifyAsync(inbox, report, target, check: true, ct);

            BaselineResult? ceiling = null;
            if (options.Baseline)
            {
                var loops = fleet.Hosts * fleet.Options.Concurrency;
                await log.WriteLineAsync($"STOMP ceiling: {messages:N0} persistent messages, {loops} publisher connection(s) x pipelined batches of {fleet.Options.BatchSize} with receipts, one consumer acking each, no database ...");
                var orderId = Guid.CreateVersion7();
                var payload = SystemTextJsonMessageSerializer.Default.Serialize(new OrderPlaced(orderId, BenchDatabase.OrderNumber(orderId), 42.50m), typeof(OrderPlaced));
                ceiling = await RawStompCeiling.RunAsync(broker.StompUri, messages, loops, fleet.Options.BatchSize, prefetch, payload, log, ct);
                report.Set("baseline_msgs_per_s", ceiling.RowsPerSecond)
                    .Set("baseline_seconds", ceiling.Elapsed.TotalSeconds)
                    .Set("ratio", messages / elapsed.TotalSeconds / ceiling.RowsPerSecond);
            }

            EndToEndPhase.ReportStages(report, messages, elapsed, outboxEmptyAfter, usage, payments - distinct, "outbox -> broker (receipted, outbox empty)");

            if (ceiling is not null)
            {
                report.AddRow("STOMP ceiling (raw frames, no database)", Report.Number(ceiling.Rows), Report.Number(ceiling.Elapsed.TotalSeconds), Report.Number(ceiling.RowsPerSecond));
            }

            report.AddNote($"CPU (cores busy, of {Environment.ProcessorCount}): machine {Report.Number(usage.Machine)}, this process {Report.Number(usage.Self)}, database server {Report.Number(usage.Server)}.");
            report.AddNote($"Verified: {payments:N0} payments from {distinct:N0} distinct messages, {deadLetters:N0} dead letters.");
        }
        finally
        {
            await inbox.DisposeAsync();
        }
    }

    private static IHost BuildConsumer(RabbitMqScenario.InboxDatabase inbox, BenchOptions options, Action<ActiveMqOptions> connection, string queue, int prefetch, TextWriter log) =>
        EndToEndPhase.BuildConsumer(
            inbox,
            options,
            Consumer,
            services => services.Configure(connection),
            c => c.UseActiveMq(queue, o =>
            {
                o.ConcurrentMessages = options.Lanes;
                o.PrefetchSize = prefetch;
            }),
            log);
}
