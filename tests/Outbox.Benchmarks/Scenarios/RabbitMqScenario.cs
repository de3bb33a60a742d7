using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Outbox.Benchmarks.Baselines;
using Outbox.Benchmarks.Infrastructure;
using Outbox.Benchmarks.Options;
using Outbox.Benchmarks.Reporting;
using Outbox.RabbitMQ;
using Outbox.TestInfrastructure;
using RabbitMQ.Client;

namespace Outbox.Benchmarks.Scenarios;

/// <summary>
/// <c>rabbitmq</c>: end to end through a real broker. N messages wait in the outbox; D dispatcher hosts send them with
/// the real <c>UseRabbitMq</c> transport (persistent, mandatory, publisher confirms) to a durable queue, and a consumer
/// host (<c>AddOutboxConsumer</c> + <c>UseRabbitMq</c>, the real EF inbox) processes each one: an inbox row and a
/// payment row committed together, then the broker acknowledgement. Timed from the dispatchers' wake-up until every
/// payment is committed; the time until the outbox is empty (everything confirmed by the broker) is reported beside.
/// The consumer's inbox is in the same PostgreSQL database (its own tables) or, on SQLite, in its own file.
/// </summary>
public static class RabbitMqScenario
{
    public const int DefaultMessages = 100_000;
    private const string Consumer = "bench-payments";

    public static async Task RunAsync(BenchContext context, BenchDatabase database, Report report)
    {
        var options = context.Options;
        var ct = context.Cancellation;
        var log = context.Log;
        var messages = options.Messages ?? DefaultMessages;
        var amqp = options.Amqp ?? (await RabbitMqServer.AcquireAsync(ct)).AmqpUri;
        var partitions = options.PartitionsGiven ? options.Partitions : 0;
        var (exchange, queue, topology) = UniqueTopology(amqp, "", "outbox-bench", partitions);

        var inbox = await InboxDatabase.CreateAsync(database, ct);
        try
        {
            await using var fleet = DispatcherFleet.Build(database, options, outbox => outbox.UseRabbitMq(topology), log, wakeup: false);
            var consumers = Enumerable.Range(0, options.Consumers).Select(_ => BuildConsumer(inbox, options, topology, log)).ToList();
            using var disposeConsumers = new HostList(consumers);
            var consumer = consumers[0];
            var consumerOptions = consumer.Services.GetRequiredService<Microsoft.Extensions.Options.IOptionsMonitor<RabbitMqConsumerOptions>>().Get(Consumer);
            var inboxOptions = consumer.Services.GetRequiredService<Microsoft.Extensions.Options.IOptionsMonitor<InboxConsumerOptions>>().Get(Consumer);
            report.Set("messages", messages)
                .Set("dispatchers", fleet.Hosts)
                .Set("concurrency", fleet.Options.Concurrency)
                .Set("batch", fleet.Options.BatchSize)
                .Set("lanes", consumerOptions.ConcurrentMessages)
                .Set("prefetch", consumerOptions.PrefetchCount)
                .Set("inbox_batch", inboxOptions.MaxBatchSize)
                .Set("consumer", options.Consumer)
                .Set("consumers", options.Consumers)
                .Set("partitions", options.PartitionsGiven ? options.Partitions : null)
                .Set("consumer_defaults", options.Defaults)
                .Set("broker", $"{amqp.Host}:{amqp.Port}");

            await fleet.Stats.PauseAsync();
            await fleet.StartAsync(ct);
            if (options.Consumer)
            {
                // Together, as processes deployed at once would: a partitioned queue's partitions then spread over them.
                await Task.WhenAll(consumers.Select(c => c.StartAsync(ct)));
            }
            else
            {
                await log.WriteLineAsync("The consumer is off: measuring outbox -> broker alone (the queue fills up and is deleted at the end).");
            }

            var processed = await EndToEndPhase.WarmUpAsync(context, database, fleet, inbox, messages, options.Consumer);
            var (target, elapsed, outboxEmptyAfter, usage, brokerCores) = await EndToEndPhase.MeasureAsync(
                context,
                database,
                fleet,
                inbox,
                consumer,
                "rabbitmq",
                messages,
                processed,
                options.Consumer,
                $"Measuring: {fleet.Hosts} dispatcher host(s) x {fleet.Options.Concurrency} loop(s), batch {fleet.Options.BatchSize} -> {queue}" +
                (options.PartitionsGiven ? $" ({options.Partitions} partitions)" : "") + $" -> {options.Consumers} " +
                $"consumer(s) with {consumerOptions.ConcurrentMessages} lane(s), prefetch {consumerOptions.PrefetchCount}, inbox batch {inboxOptions.MaxBatchSize} ...",
                BrokerCpuSeconds);
            foreach (var other in consumers.Skip(1))
            {
                await other.StopAsync(CancellationToken.None);
            }

            var orderViolations = BenchPaymentHandler.OrderViolations;
            var (payments, distinct, deadLetters) = await EndToEndPhase.VerifyAsync(inbox, report, target, options.Consumer, ct);

            BaselineResult? ceiling = null;
            if (options.Baseline)
            {
                var loops = fleet.Hosts * fleet.Options.Concurrency;
                await log.WriteLineAsync($"Broker ceiling: {messages:N0} persistent messages, {loops} publisher(s) x batches of {fleet.Options.BatchSize} with confirms, one consumer acking each, no database ...");
                var orderId = Guid.CreateVersion7();
                var payload = SystemTextJsonMessageSerializer.Default.Serialize(new OrderPlaced(orderId, BenchDatabase.OrderNumber(orderId), 42.50m), typeof(OrderPlaced));
                var ceilingBrokerCpu = BrokerCpuSeconds();
                var ceilingCpu = CpuSample.Take();
                ceiling = await RawRabbitMqCeiling.RunAsync(amqp, messages, loops, fleet.Options.BatchSize, (ushort)consumerOptions.PrefetchCount, payload, log, ct);
                var ceilingUsage = CpuSample.Take().CoresSince(ceilingCpu);
                var ceilingBrokerCores = (BrokerCpuSeconds() - ceilingBrokerCpu) / ceiling.Elapsed.TotalSeconds;
                report.Set("baseline_cpu_machine_cores", ceilingUsage.Machine)
                    .Set("baseline_cpu_self_cores", ceilingUsage.Self)
                    .Set("baseline_cpu_broker_cores", ceilingBrokerCores)
                    .Set("baseline_cpu_others_cores", ceilingUsage.Others - (ceilingBrokerCores ?? 0))
                    .Set("baseline_broker_us_per_msg", ceilingBrokerCores * ceiling.Elapsed.TotalSeconds * 1e6 / messages);
                report.Set("baseline_msgs_per_s", ceiling.RowsPerSecond)
                    .Set("baseline_seconds", ceiling.Elapsed.TotalSeconds)
                    .Set("ratio", messages / elapsed.TotalSeconds / ceiling.RowsPerSecond);
            }

            EndToEndPhase.ReportStages(report, messages, elapsed, outboxEmptyAfter, usage, payments - distinct, "outbox -> broker (confirmed, outbox empty)")
                .Set("cpu_broker_cores", brokerCores)
                .Set("broker_us_per_msg", brokerCores * elapsed.TotalSeconds * 1e6 / messages)
                .Set("cpu_others_cores", usage.Others - (brokerCores ?? 0))
                .Set("claims", fleet.Stats.Claims)
                .Set("claim_ms_p50", fleet.Stats.ClaimLatency.PercentileMs(50))
                .Set("ack_ms_p50", fleet.Stats.AckLatency.PercentileMs(50))
                .Set("order_violations", options.Keys.IsNone ? null : orderViolations);

            if (ceiling is not null)
            {
                report.AddRow("broker ceiling (raw client, no database)", Report.Number(ceiling.Rows), Report.Number(ceiling.Elapsed.TotalSeconds), Report.Number(ceiling.RowsPerSecond));
            }
            report.AddNote(
                $"CPU (cores busy, of {Environment.ProcessorCount}): machine {Report.Number(usage.Machine)}, this process (dispatchers + consumer) {Report.Number(usage.Self)}, " +
                $"database server {Report.Number(usage.Server)}, broker {Report.Number(brokerCores)}, others {Report.Number(usage.Others - (brokerCores ?? 0))}.");
            report.AddNote($"Verified: {payments:N0} payments from {distinct:N0} distinct messages, {deadLetters:N0} dead letters.");
        }
        finally
        {
            await DeleteTopologyAsync(amqp, exchange, queue, log, partitions);
            await inbox.DisposeAsync();
        }
    }

    private static IHost BuildConsumer(InboxDatabase inbox, BenchOptions options, Action<RabbitMqOptions> topology, TextWriter log)
    {
        var probe = new RabbitMqOptions();
        topology(probe);
        var queue = probe.Queues.Count > 0 ? probe.Queues[0].Name : probe.PartitionedQueues[0].Name;
        return EndToEndPhase.BuildConsumer(
            inbox,
            options,
            Consumer,
            services => services.Configure(topology),
            c => c.UseRabbitMq(o => TuneConsumer(o, queue, options, options.Defaults)),
            log,
            libraryDefaults: options.Defaults);
    }

    /// <summary>
    /// The consumer's queue and, unless <paramref name="libraryDefaults"/>, the command line's lanes and prefetch (by
    /// default enough prefetch for every lane's batches: lanes x inbox batch x 2, at least 32).
    /// </summary>
    internal static void TuneConsumer(RabbitMqConsumerOptions o, string queue, BenchOptions options, bool libraryDefaults)
    {
        o.Queue = queue;
        if (libraryDefaults)
        {
            return;
        }

        o.ConcurrentMessages = options.Lanes;
        o.PrefetchCount = options.Prefetch
            ?? Math.Clamp(options.Lanes * (options.InboxBatch ?? new InboxConsumerOptions().MaxBatchSize) * 2, 32, 65_535);
    }

    /// <summary>CPU seconds used so far by a local RabbitMQ node (the Erlang VM, <c>beam.smp</c>), or null if none runs here.</summary>
    internal static double? BrokerCpuSeconds()
    {
        if (!Directory.Exists("/proc"))
        {
            return null;
        }

        double? total = null;
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            try
            {
                if (!int.TryParse(Path.GetFileName(directory), out _) || File.ReadAllText(Path.Combine(directory, "comm")).Trim() != "beam.smp")
                {
                    continue;
                }

                // /proc/<pid>/stat: after the ")" that ends the command name, utime and stime are fields 12 and 13.
                var stat = File.ReadAllText(Path.Combine(directory, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                total = (total ?? 0) + ((long.Parse(fields[11], System.Globalization.CultureInfo.InvariantCulture) + long.Parse(fields[12], System.Globalization.CultureInfo.InvariantCulture)) / 100.0);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException)
            {
                // Gone, or not ours to read.
            }
        }

        return total;
    }

    /// <summary>
    /// A run's own exchange and queue, uniquely named (the broker may be shared), and the options that declare them and
    /// route every message to the exchange; with <paramref name="partitions"/> above 0 a partitioned queue instead (its
    /// own direct exchange, named as the queue, and that many partition queues). Delete them with
    /// <see cref="DeleteTopologyAsync"/>.
    /// </summary>
    internal static (string Exchange, string Queue, Action<RabbitMqOptions> Topology) UniqueTopology(Uri amqp, string prefix, string clientName, int partitions = 0)
    {
        var suffix = Guid.NewGuid().ToString("N")[..8];
        var exchange = $"outbox-bench.{suffix}.{prefix}orders";
        var queue = $"outbox-bench.{suffix}.{prefix}payments";
        return (exchange, queue, o =>
        {
            o.Uri = amqp;
            o.ClientName = clientName;
            if (partitions > 0)
            {
                o.Partition(queue, partitions);
                o.ExchangeFor = _ => queue;
            }
            else
            {
                o.AddExchange(exchange).AddQueue(queue, exchange);
                o.ExchangeFor = _ => exchange;
            }
        });
    }

    internal static async Task DeleteTopologyAsync(Uri amqp, string exchange, string queue, TextWriter log, int partitions = 0)
    {
        try
        {
            var factory = new ConnectionFactory { Uri = amqp };
            await using var connection = await factory.CreateConnectionAsync("outbox-bench-cleanup");
            await using var channel = await connection.CreateChannelAsync();
            await channel.QueueDeleteAsync(queue, ifUnused: false, ifEmpty: false);
            await channel.ExchangeDeleteAsync(exchange, ifUnused: false);
            for (var partition = 0; partition < partitions; partition++)
            {
                await channel.QueueDeleteAsync($"{queue}.{partition}", ifUnused: false, ifEmpty: false);
            }

            if (partitions > 0)
            {
                await channel.ExchangeDeleteAsync(queue, ifUnused: false);
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            await log.WriteLineAsync($"Note: could not delete {queue} / {exchange}: {ex.Message}");
        }
    }

    /// <summary>Disposes the consumer hosts at the end of the run.</summary>
    private sealed class HostList(List<IHost> hosts) : IDisposable
    {
        public void Dispose()
        {
            foreach (var host in hosts)
            {
                host.Dispose();
            }
        }
    }

    /// <summary>The consumer's database: PostgreSQL, the benchmark's database (own tables); SQLite, a file of its own.</summary>
    internal sealed class InboxDatabase : IAsyncDisposable
    {
        private readonly BenchDatabase _database;
        private readonly string? _sqliteFile;

        private InboxDatabase(BenchDatabase database, string? sqliteFile)
        {
            _database = database;
            _sqliteFile = sqliteFile;
        }

        public static async Task<InboxDatabase> CreateAsync(BenchDatabase database, CancellationToken cancellationToken)
        {
            string? file = null;
            if (database.Provider == BenchProvider.Sqlite)
            {
                file = Path.Combine(Path.GetTempPath(), $"outbox-bench-inbox-{Guid.NewGuid():N}.db");
            }

            var inbox = new InboxDatabase(database, file);
            await using var context = inbox.CreateContext();
            if (file is not null)
            {
                await context.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL", cancellationToken);
            }

            await context.Database.ExecuteSqlRawAsync(context.Database.GenerateCreateScript(), cancellationToken);
            return inbox;
        }

        public void Configure(DbContextOptionsBuilder builder)
        {
            if (_sqliteFile is null)
            {
                _database.Configure(builder);
            }
            else
            {
                builder.UseSqlite(new SqliteConnectionStringBuilder { DataSource = _sqliteFile, DefaultTimeout = 30 }.ToString());
            }
        }

        public BenchInboxDbContext CreateContext()
        {
            var builder = new DbContextOptionsBuilder<BenchInboxDbContext>();
            Configure(builder);
            return new BenchInboxDbContext(builder.Options);
        }

        public async Task<long> CountPaymentsAsync(CancellationToken cancellationToken)
        {
            await using var context = CreateContext();
            return await context.Payments.LongCountAsync(cancellationToken);
        }

        public async Task<(long Payments, long Distinct, long DeadLetters)> VerifyAsync(CancellationToken cancellationToken)
        {
            await using var context = CreateContext();
            var payments = await context.Payments.LongCountAsync(cancellationToken);
            var distinct = await context.Payments.Select(p => p.MessageId).Distinct().LongCountAsync(cancellationToken);
            var deadLetters = await context.Set<Outbox.EntityFrameworkCore.InboxDeadLetterRecord>().LongCountAsync(cancellationToken);
            return (payments, distinct, deadLetters);
        }

        public ValueTask DisposeAsync()
        {
            if (_sqliteFile is not null)
            {
                SqliteConnection.ClearAllPools();
                foreach (var path in new[] { _sqliteFile, _sqliteFile + "-wal", _sqliteFile + "-shm" })
                {
                    try
                    {
                        File.Delete(path);
                    }
                    catch (IOException)
                    {
                        // A temp file left behind is harmless.
                    }
                }
            }

            return ValueTask.CompletedTask;
        }
    }
}
