using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Outbox.Benchmarks.Options;
using Outbox.Benchmarks.Reporting;
using Outbox.Benchmarks.Scenarios;

namespace Outbox.Benchmarks.Infrastructure;

/// <summary>
/// The shared phases of the end-to-end broker scenarios (rabbitmq, kafka, activemq): an unmeasured warm-up, then the
/// measured run from the dispatchers' wake-up until the outbox is empty and (with a consumer) every payment is committed.
/// </summary>
internal static class EndToEndPhase
{
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(20);

    /// <summary>What the measured phase saw.</summary>
    /// <param name="Target">The payments expected in the inbox at the end (warm-up included).</param>
    /// <param name="ExternalCores">Cores used by the external process measured by the <c>externalCpuSeconds</c> probe, or null.</param>
    public sealed record Result(long Target, TimeSpan Elapsed, TimeSpan? OutboxEmptyAfter, CpuUsage Usage, double? ExternalCores);

    /// <summary>
    /// Sends up to 5,000 messages end to end (not measured) if <c>--warmup</c> is on; the fleet must be paused and
    /// started. Returns how many messages were processed (0 without a warm-up).
    /// </summary>
    public static async Task<long> WarmUpAsync(BenchContext context, BenchDatabase database, DispatcherFleet fleet, RabbitMqScenario.InboxDatabase inbox, int messages, bool consumer)
    {
        if (!context.Options.Warmup)
        {
            return 0;
        }

        var ct = context.Cancellation;
        var warm = Math.Min(messages, 5_000);
        await context.Log.WriteLineAsync($"Warm-up: {warm:N0} messages end to end (not measured) ...");
        await database.PrefillAsync(warm, ct);
        fleet.Stats.Paused = false;
        fleet.NotifyAll();
        await Wait.UntilAsync(
            async () => consumer ? await inbox.CountPaymentsAsync(ct) >= warm : await database.IsOutboxEmptyAsync(ct),
            Poll,
            context.Timeout,
            "the warm-up messages were delivered",
            ct);
        await fleet.Stats.PauseAsync();
        return warm;
    }

    /// <summary>
    /// Pre-fills <paramref name="messages"/>, resets the statistics, wakes the paused fleet and waits until the outbox is
    /// empty and (if <paramref name="consumer"/>) the inbox holds <paramref name="processed"/> + <paramref name="messages"/>
    /// payments, printing progress as <paramref name="name"/>; then stops the consumer and the fleet.
    /// </summary>
    public static async Task<Result> MeasureAsync(
        BenchContext context,
        BenchDatabase database,
        DispatcherFleet fleet,
        RabbitMqScenario.InboxDatabase inbox,
        IHost consumerHost,
        string name,
        int messages,
        long processed,
        bool consumer,
        string measuring,
        Func<double?>? externalCpuSeconds = null)
    {
        var ct = context.Cancellation;
        var log = context.Log;
        await log.WriteLineAsync($"Pre-filling {messages:N0} messages ...");
        await database.PrefillAsync(messages, ct);
        await database.PrepareForRunAsync(ct);
        fleet.Stats.Reset();
        BenchPaymentHandler.Reset();
        var externalBefore = externalCpuSeconds?.Invoke();
        var cpu = CpuSample.Take();
        var target = processed + messages;
        await log.WriteLineAsync(measuring);
        var started = Stopwatch.GetTimestamp();
        TimeSpan? outboxEmptyAfter = null;
        fleet.Stats.BeginPhase();
        fleet.Stats.Paused = false;
        fleet.NotifyAll();
        await using (Progress.Start(log, () =>
        {
            var t = Stopwatch.GetElapsedTime(started).TotalSeconds;
            var handled = BenchPaymentHandler.Handled;
            return $"  [{name}] {t,6:0.0}s  sent {fleet.Stats.AckedRows,9:N0}  handled {handled,9:N0} ({handled / t,7:N0}/s)";
        }))
        {
            await Wait.UntilAsync(
                async () =>
                {
                    if (outboxEmptyAfter is null && await database.IsOutboxEmptyAsync(ct))
                    {
                        outboxEmptyAfter = Stopwatch.GetElapsedTime(started);
                    }

                    return outboxEmptyAfter is not null && (!consumer || await inbox.CountPaymentsAsync(ct) >= target);
                },
                Poll,
                context.Timeout,
                $"all {messages:N0} messages were processed by the consumer",
                ct);
        }

        var elapsed = Stopwatch.GetElapsedTime(started);
        var usage = CpuSample.Take().CoresSince(cpu);
        var externalCores = externalCpuSeconds is null ? null : (externalCpuSeconds() - externalBefore) / elapsed.TotalSeconds;
        fleet.Stats.EndPhase();
        await consumerHost.StopAsync(CancellationToken.None);
        await fleet.StopAsync();
        return new Result(target, elapsed, outboxEmptyAfter, usage, externalCores);
    }

    /// <summary>Counts the payments and dead letters; if <paramref name="check"/>, fails the report unless every message was processed exactly once.</summary>
    public static async Task<(long Payments, long Distinct, long DeadLetters)> VerifyAsync(RabbitMqScenario.InboxDatabase inbox, Report report, long target, bool check, CancellationToken cancellationToken)
    {
        var (payments, distinct, deadLetters) = await inbox.VerifyAsync(cancellationToken);
        if (check && (payments != target || distinct != target || deadLetters != 0))
        {
            report.Fail($"Expected {target:N0} payments from {target:N0} distinct messages and no dead letters; found {payments:N0} payments, {distinct:N0} distinct, {deadLetters:N0} dead letters.");
        }

        return (payments, distinct, deadLetters);
    }

    /// <summary>
    /// Reports what every end-to-end scenario reports: the figures (seconds, rates, duplicates processed, CPU of the
    /// machine, this process and the database, in this order; the caller chains its own after them) and the stage
    /// table's header, its <paramref name="toBroker"/> row (until the outbox is empty) and its end-to-end row.
    /// </summary>
    public static Report ReportStages(Report report, int messages, TimeSpan elapsed, TimeSpan? outboxEmptyAfter, CpuUsage usage, long duplicates, string toBroker)
    {
        var rate = messages / elapsed.TotalSeconds;
        report.AddRow("stage", "messages", "seconds", "msg/s");
        report.AddRow(toBroker, Report.Number(messages), Report.Number(outboxEmptyAfter?.TotalSeconds), Report.Number(messages / outboxEmptyAfter?.TotalSeconds));
        report.AddRow("end to end (payments committed)", Report.Number(messages), Report.Number(elapsed.TotalSeconds), Report.Number(rate));
        return report.Set("seconds", elapsed.TotalSeconds)
            .Set("msgs_per_s", rate)
            .Set("outbox_empty_s", outboxEmptyAfter?.TotalSeconds)
            .Set("outbox_to_broker_msgs_per_s", messages / outboxEmptyAfter?.TotalSeconds)
            .Set("duplicates_processed", duplicates)
            .Set("cpu_machine_cores", usage.Machine)
            .Set("cpu_self_cores", usage.Self)
            .Set("cpu_db_cores", usage.Server);
    }

    /// <summary>
    /// The consumer host of an end-to-end scenario: warnings to stderr, the benchmark's inbox, consumer
    /// <paramref name="name"/> with the payment handler and <c>--inbox-batch</c>; <paramref name="services"/> adds the
    /// transport's connection settings and <paramref name="transport"/> picks the transport. With
    /// <paramref name="libraryDefaults"/> <c>--inbox-batch</c> is ignored; <paramref name="configureContext"/> adds to the
    /// consumer's DbContext options (an interceptor, for example).
    /// </summary>
    public static IHost BuildConsumer(
        RabbitMqScenario.InboxDatabase inbox,
        BenchOptions options,
        string name,
        Action<IServiceCollection> services,
        Action<OutboxConsumerBuilder> transport,
        TextWriter log,
        bool libraryDefaults = false,
        Action<Microsoft.EntityFrameworkCore.DbContextOptionsBuilder>? configureContext = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Logging.AddProvider(new StderrLoggerProvider(log, "consumer"));
        builder.Services.AddBenchContext<BenchInboxDbContext>(options, (_, b) =>
        {
            inbox.Configure(b);
            configureContext?.Invoke(b);
        });
        services(builder.Services);
        builder.Services.AddOutboxConsumer<BenchInboxDbContext>(name, c =>
        {
            c.AddHandler<OrderPlaced, BenchPaymentHandler>();
            if (!libraryDefaults && options.InboxBatch is { } batch)
            {
                c.Configure(o => o.MaxBatchSize = batch);
            }

            transport(c);
        });
        return builder.Build();
    }
}
