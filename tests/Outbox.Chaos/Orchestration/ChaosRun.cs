using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Npgsql;
using Outbox.Chaos.Model;
using Outbox.Chaos.Verification;
using Outbox.TestInfrastructure;

namespace Outbox.Chaos.Orchestration;

/// <summary>
/// The orchestrator: starts the servers, the producer, the dispatchers and the consumer as separate processes, injects
/// kills and server restarts while the messages flow, then verifies the outcome from the database.
/// </summary>
public sealed class ChaosRun(ChaosOptions options, TextWriter output)
{
    private readonly Random _random = new(options.Seed);
    private long _produced;
    private int _kills;
    private int _dbRestarts;
    private int _brokerRestarts;

    // Per database restart: seconds from the server accepting connections again to the next delivered message.
    private readonly List<double> _resumeSeconds = [];

    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        var stopwatch = Stopwatch.StartNew();
        output.WriteLine($"command: dotnet run -c Release --project tests/Outbox.Chaos -- {string.Join(' ', Environment.GetCommandLineArgs().Skip(1))}");
        options.RunId = $"r{DateTime.UtcNow:HHmmss}{options.Seed}";

        LocalPostgresCluster? cluster = null;
        string adminConnection;
        if (options.Connection is { } given)
        {
            if (options.DbRestarts > 0)
            {
                throw new ArgumentException("--db-restarts needs the harness's own PostgreSQL cluster: leave out --connection.");
            }

            adminConnection = given;
        }
        else
        {
            cluster = await LocalPostgresCluster.StartAsync(new LocalPostgresClusterOptions(), cancellationToken);
            adminConnection = cluster.ConnectionString;
        }

        LocalPgBouncer? bouncer = null;
        try
        {
            // The broker and how to restart it: RabbitMQ's stop_app/start_app, or ActiveMQ's process stopped and started
            // again on the same port and data. A Kafka cluster is not restarted (see docs/kafka.md).
            Func<CancellationToken, Task>? restartBroker = null;
            if (options.IsKafka)
            {
                var kafka = options.Kafka is null ? await KafkaServer.AcquireAsync(cancellationToken) : null;
                options.Kafka ??= kafka!.BootstrapServers;
                var topic = Roles.ChaosTopology.Exchange(options);
                if (kafka is not null)
                {
                    await kafka.CreateTopicAsync(topic, options.Partitions, cancellationToken);
                }

                output.WriteLine($"kafka ({kafka?.Source ?? "given"}) at {options.Kafka}, topic {topic} with {options.Partitions} partitions");
            }
            else if (options.Transport == "activemq")
            {
                if (options.Stomp is null)
                {
                    var broker = await ActiveMqServer.AcquireAsync(cancellationToken);
                    options.Stomp = broker.StompUri.ToString();
                    if (broker.Local is { } local)
                    {
                        restartBroker = async ct =>
                        {
                            await local.StopAsync(kill: false, ct);
                            await local.StartAsync(ct);
                        };
                    }
                }

                if (options.BrokerRestarts > 0 && restartBroker is null)
                {
                    throw new ArgumentException("--broker-restarts needs a local ActiveMQ the harness starts itself: leave out --stomp (and OUTBOX_TEST_ACTIVEMQ).");
                }
            }
            else
            {
                RabbitMqServer? broker = null;
                if (options.Amqp is null)
                {
                    broker = await RabbitMqServer.AcquireAsync(cancellationToken);
                    options.Amqp = broker.AmqpUri.ToString();
                }

                if (options.BrokerRestarts > 0 && broker is not { CanRestart: true })
                {
                    throw new ArgumentException("--broker-restarts needs a local RabbitMQ the harness can restart: leave out --amqp.");
                }

                if (broker is { CanRestart: true })
                {
                    restartBroker = broker.RestartAsync;
                }
            }

            var database = await CreateDatabaseAsync(adminConnection, cancellationToken);
            options.OrdersConnection = database;
            options.PaymentsConnection = database;
            if (options.PgBouncer)
            {
                // Every role's connections (publishes, claims, inbox, the listener too) go through the pooler with the
                // library's defaults; the harness itself (verification, restarts) talks to the server directly.
                bouncer = await LocalPgBouncer.StartAsync(adminConnection, cancellationToken: cancellationToken);
                options.OrdersConnection = options.PaymentsConnection = bouncer.Through(database);
                output.WriteLine($"through PgBouncer (transaction mode) on 127.0.0.1:{bouncer.Port}");
            }
            output.WriteLine($"run {options.RunId}: {options.Messages} messages, {options.Dispatchers} dispatcher(s), {options.Customers} customers, " +
                             $"transport {options.Transport}, kill every ~{options.KillEvery}s, {options.DbRestarts} db restart(s), {options.BrokerRestarts} broker restart(s), " +
                             $"fault rate {options.FaultRate}, poison rate {options.PoisonRate}, seed {options.Seed}");

            var consumer = new ChildProcess("consumer", options.ChildArguments("consumer", 0));
            var dispatchers = Enumerable.Range(0, options.Dispatchers)
                .Select(i => new ChildProcess($"dispatcher-{i}", options.ChildArguments("dispatcher", i)))
                .ToList();
            using var producer = new ChildProcess("producer", options.ChildArguments("producer", 0), OnProducerOutput);
            var victims = dispatchers.Append(consumer).ToList();
            try
            {
                consumer.Start();
                dispatchers.ForEach(d => d.Start());
                producer.Start();
                var finished = await DriveAsync(producer, victims, database, restartBroker, cluster, stopwatch, cancellationToken);
                victims.ForEach(v => v.Kill());
                producer.Kill();
                return await ReportAsync(database, finished, stopwatch.Elapsed, cancellationToken);
            }
            finally
            {
                victims.ForEach(v => v.Dispose());
            }
        }
        finally
        {
            if (bouncer is not null)
            {
                await bouncer.DisposeAsync();
            }

            if (cluster is not null)
            {
                await cluster.DisposeAsync();
            }
        }
    }

    private void OnProducerOutput(string name, string line)
    {
        if (line.StartsWith("produced ", StringComparison.Ordinal) && long.TryParse(line.AsSpan(9), CultureInfo.InvariantCulture, out var n))
        {
            Interlocked.Exchange(ref _produced, n);
        }
    }

    /// <summary>
    /// Two phases. Faults: kills every <see cref="ChaosOptions.KillEvery"/> seconds and the planned server restarts,
    /// until the producer has finished, the restarts are done and <see cref="ChaosOptions.MinKills"/> kills happened.
    /// Settling: no more faults; the run ends when every order has an outcome, and fails when nothing more settled for
    /// <see cref="ChaosOptions.StallSeconds"/> (or at the <see cref="ChaosOptions.Seconds"/> safety net). Kills do not
    /// go on while the run settles: on a loaded machine a restarted consumer needs many seconds to start, and one
    /// killed every few seconds would rarely get to work, which measured the machine, not the library.
    /// </summary>
    private async Task<bool> DriveAsync(
        ChildProcess producer, List<ChildProcess> victims, string database, Func<CancellationToken, Task>? restartBroker, LocalPostgresCluster? cluster,
        Stopwatch stopwatch, CancellationToken cancellationToken)
    {
        var deadline = TimeSpan.FromSeconds(options.Seconds);
        var stallLimit = TimeSpan.FromSeconds(options.StallSeconds);
        var nextKill = NextKillDelay();
        var lastReport = TimeSpan.Zero;
        TimeSpan? faultsEnded = null;
        var lastSettled = -1L;
        var lastProgress = TimeSpan.Zero;
        while (stopwatch.Elapsed < deadline)
        {
            await Task.Delay(200, cancellationToken);
            var produced = Interlocked.Read(ref _produced);
            var fraction = (double)produced / options.Messages;
            var restartsDone = _dbRestarts >= (cluster is null ? 0 : options.DbRestarts) && _brokerRestarts >= (restartBroker is null ? 0 : options.BrokerRestarts);
            if (faultsEnded is null && producer.ExitCode == 0 && restartsDone && (options.KillEvery == 0 || _kills >= options.MinKills))
            {
                faultsEnded = stopwatch.Elapsed;
                lastProgress = stopwatch.Elapsed;
                output.WriteLine($"[{stopwatch.Elapsed:mm\\:ss}] faults stopped after {_kills} kills; settling (fails after {options.StallSeconds}s without progress)");
            }

            // Server restarts are spread over the production phase, db and broker interleaved.
            if (cluster is not null && _dbRestarts < options.DbRestarts && fraction >= (_dbRestarts + 1.0) / (options.DbRestarts + 1))
            {
                output.WriteLine($"[{stopwatch.Elapsed:mm\\:ss}] restarting PostgreSQL (immediate) at {produced} produced");
                await cluster.RestartAsync(immediate: true, cancellationToken);
                _dbRestarts++;
                var resume = await MeasureResumeAsync(database, cancellationToken, line => output.WriteLine($"[{stopwatch.Elapsed:mm\\:ss}] {line}"));
                if (resume is { } seconds)
                {
                    _resumeSeconds.Add(seconds);
                }

                output.WriteLine($"[{stopwatch.Elapsed:mm\\:ss}] PostgreSQL accepts connections again; next delivery after " +
                                 (resume is { } r ? $"{r:0.000} s" : "more than 60 s (not measured)"));
            }

            if (restartBroker is not null && _brokerRestarts < options.BrokerRestarts && fraction >= (_brokerRestarts + 0.5) / (options.BrokerRestarts + 0.5))
            {
                output.WriteLine($"[{stopwatch.Elapsed:mm\\:ss}] restarting {(options.Transport == "activemq" ? "ActiveMQ" : "RabbitMQ")} at {produced} produced");
                await restartBroker(cancellationToken);
                _brokerRestarts++;
            }

            if (faultsEnded is null && options.KillEvery > 0 && stopwatch.Elapsed >= nextKill)
            {
                var victim = victims[_random.Next(victims.Count)];
                victim.Kill();
                _kills++;
                await Task.Delay(_random.Next(200, 1000), cancellationToken);
                victim.Start();
                nextKill = stopwatch.Elapsed + NextKillDelay();
            }

            // A dead child that was not killed by us is restarted too (and reported).
            foreach (var child in victims.Where(v => !v.IsRunning))
            {
                output.WriteLine($"[{stopwatch.Elapsed:mm\\:ss}] {child.Name} exited by itself (code {child.ExitCode}); restarting");
                child.Start();
            }

            if (producer.ExitCode is { } code and not 0)
            {
                throw new InvalidOperationException($"The producer failed with exit code {code}.");
            }

            (long Orders, long Settled) progress;
            try
            {
                progress = await ChaosVerifier.ProgressAsync(database, cancellationToken);
            }
            catch (NpgsqlException)
            {
                continue; // the database is restarting
            }

            if (progress.Settled != lastSettled)
            {
                lastSettled = progress.Settled;
                lastProgress = stopwatch.Elapsed;
            }

            if (stopwatch.Elapsed - lastReport >= TimeSpan.FromSeconds(2))
            {
                output.WriteLine($"[{stopwatch.Elapsed:mm\\:ss}] produced {produced}, settled {progress.Settled}/{progress.Orders}, kills {_kills}, db restarts {_dbRestarts}, broker restarts {_brokerRestarts}");
                lastReport = stopwatch.Elapsed;
            }

            if (faultsEnded is not null && progress.Orders == options.Messages && progress.Settled >= progress.Orders)
            {
                return true;
            }

            if (faultsEnded is not null && stopwatch.Elapsed - lastProgress >= stallLimit)
            {
                output.WriteLine($"nothing settled for {options.StallSeconds}s after the faults stopped (settled {progress.Settled}/{progress.Orders})");
                return false;
            }
        }

        output.WriteLine($"safety net of {options.Seconds}s reached before everything settled");
        return false;
    }

    /// <summary>
    /// From the moment <c>pg_ctl restart -w</c> returned (the server accepts connections) to the next message a
    /// dispatcher delivered and acknowledged. Watched: the rows waiting and claimable at the probe's first read (not
    /// under a lease taken before the restart: a batch sent just before the crash, whose acknowledgement failed,
    /// stays leased until its lease expires and says nothing about the dispatcher being back), counted until their
    /// number drops. When none is claimable, it waits for rows written from then on. The first read comes after the
    /// moment, so a delivery before it is seen only at the next one: the figure errs on the long side.
    /// </summary>
    private static async Task<double?> MeasureResumeAsync(string database, CancellationToken cancellationToken, Action<string>? log = null)
    {
        var started = Stopwatch.StartNew();
        var connectionString = new NpgsqlConnectionStringBuilder(database) { Pooling = false, ApplicationName = "chaos-resume-probe" }.ConnectionString;
        NpgsqlConnection? connection = null;
        long[]? watched = null;
        var reported = false;
        try
        {
            while (started.Elapsed < TimeSpan.FromSeconds(60))
            {
                try
                {
                    if (connection is null)
                    {
                        connection = new NpgsqlConnection(connectionString);
                        await connection.OpenAsync(cancellationToken);
                    }

                    if (watched is null)
                    {
                        await using var pick = new NpgsqlCommand(
                            """
                            SELECT COALESCE(array_agg(id) FILTER (WHERE lease_expires_at IS NULL OR lease_expires_at <= now()), '{}'),
                                   count(*)
                            FROM orders.outbox_messages
                            """,
                            connection);
                        await using var reader = await pick.ExecuteReaderAsync(cancellationToken);
                        await reader.ReadAsync(cancellationToken);
                        var claimable = reader.GetFieldValue<long[]>(0);
                        var waiting = reader.GetInt64(1);
                        if (!reported)
                        {
                            log?.Invoke($"resume probe: {waiting} row(s) waiting at its first read {started.Elapsed.TotalSeconds:0.000} s after the restart, " +
                                        $"{waiting - claimable.Length} of them under a lease taken before it");
                            reported = true;
                        }

                        if (claimable.Length > 0)
                        {
                            watched = claimable;
                        }
                    }
                    else
                    {
                        await using var count = new NpgsqlCommand("SELECT count(*) FROM orders.outbox_messages WHERE id = ANY($1)", connection);
                        count.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = watched });
                        if ((long)(await count.ExecuteScalarAsync(cancellationToken))! < watched.Length)
                        {
                            return started.Elapsed.TotalSeconds;
                        }
                    }
                }
                catch (NpgsqlException)
                {
                    // Still recovering (or the probe's connection broke): try again.
                    if (connection is not null)
                    {
                        await connection.DisposeAsync();
                        connection = null;
                    }
                }

                await Task.Delay(10, cancellationToken);
            }

            return null;
        }
        finally
        {
            if (connection is not null)
            {
                await connection.DisposeAsync();
            }
        }
    }

    private TimeSpan NextKillDelay() => TimeSpan.FromSeconds(options.KillEvery * (0.5 + _random.NextDouble()));

    private async Task<string> CreateDatabaseAsync(string adminConnection, CancellationToken cancellationToken)
    {
        var name = "chaos_" + options.RunId;
        await using (var admin = new NpgsqlConnection(adminConnection))
        {
            await admin.OpenAsync(cancellationToken);
            await using var create = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", admin);
            await create.ExecuteNonQueryAsync(cancellationToken);
        }

        var connection = new NpgsqlConnectionStringBuilder(adminConnection) { Database = name }.ConnectionString;
        await using (var orders = new OrdersDb(new DbContextOptionsBuilder<OrdersDb>().UseNpgsql(connection).Options))
        {
            await orders.Database.ExecuteSqlRawAsync($"CREATE SCHEMA {ChaosSchemas.Orders}; CREATE SCHEMA {ChaosSchemas.Payments};", cancellationToken);
            await orders.Database.ExecuteSqlRawAsync(orders.Database.GenerateCreateScript(), cancellationToken);
        }

        await using (var payments = new PaymentsDb(new DbContextOptionsBuilder<PaymentsDb>().UseNpgsql(connection).Options))
        {
            await payments.Database.ExecuteSqlRawAsync(payments.Database.GenerateCreateScript(), cancellationToken);
        }

        return connection;
    }

    private async Task<int> ReportAsync(string database, bool finished, TimeSpan elapsed, CancellationToken cancellationToken)
    {
        NpgsqlConnection.ClearAllPools();
        var c = await ChaosVerifier.VerifyAsync(database, cancellationToken);
        double n = Math.Max(1, c.Orders);
        var l = c.Lost / n;
        var f = c.Duplicates / n;
        var o = c.OrderViolations / n;
        var r = 1 - l - f - o;
        var ps = c.Accounted / n;
        var poisonOk = c.PoisonDeadLettered == c.PoisonOrders && c.InboxDeadLetters == c.PoisonOrders;
        output.WriteLine();
        output.WriteLine("| measure | value |");
        output.WriteLine("| --- | --- |");
        output.WriteLine($"| orders committed (N) | {c.Orders} |");
        output.WriteLine($"| paid exactly once | {c.Paid - c.Duplicates} |");
        output.WriteLine($"| lost (non-poison, no payment) | {c.Lost} |");
        output.WriteLine($"| duplicates (paid twice or more) | {c.Duplicates} |");
        output.WriteLine($"| order violations | {c.OrderViolations} |");
        output.WriteLine($"| payments without order | {c.PaymentsWithoutOrder} |");
        output.WriteLine($"| poison orders / inbox dead letters / matching | {c.PoisonOrders} / {c.InboxDeadLetters} / {c.PoisonDeadLettered} |");
        output.WriteLine($"| outbox dead letters / still pending | {c.OutboxDeadLetters} / {c.OutboxPending} |");
        output.WriteLine($"| kills / db restarts / broker restarts | {_kills} / {_dbRestarts} / {_brokerRestarts} |");
        var resumeP99 = _resumeSeconds.Count == 0 ? (double?)null : Percentile(_resumeSeconds, 0.99);
        if (_dbRestarts > 0)
        {
            output.WriteLine($"| db accepts connections → next delivery, p99 / max over {_resumeSeconds.Count} restart(s) | " +
                             (resumeP99 is { } p ? $"{p:0.000} s / {_resumeSeconds.Max():0.000} s" : "not measured") + " |");
        }

        output.WriteLine($"| L / F / O / R / P_s | {l:0.######} / {f:0.######} / {o:0.######} / {r:0.######} / {ps:0.######} |");
        output.WriteLine($"| time | {elapsed.TotalSeconds:0.0} s ({c.Orders / Math.Max(elapsed.TotalSeconds, 0.001):0} msg/s overall) |");
        var json = JsonSerializer.Serialize(new
        {
            messages = c.Orders,
            lost = c.Lost,
            duplicates = c.Duplicates,
            order_violations = c.OrderViolations,
            L = l,
            F = f,
            O = o,
            R = r,
            P_s = ps,
            kills = _kills,
            db_restarts = _dbRestarts,
            db_resume_p99_s = resumeP99 is { } p99 ? Math.Round(p99, 3) : (double?)null,
            db_resume_s = _resumeSeconds.Select(x => Math.Round(x, 3)).ToArray(),
            broker_restarts = _brokerRestarts,
            poison = c.PoisonOrders,
            dead_letters = c.InboxDeadLetters,
            outbox_dead_letters = c.OutboxDeadLetters,
            payments_without_order = c.PaymentsWithoutOrder,
            finished,
            seconds = Math.Round(elapsed.TotalSeconds, 1),
            seed = options.Seed,
        });
        output.WriteLine(json);
        var ok = finished && c.Lost == 0 && c.Duplicates == 0 && c.OrderViolations == 0 && c.PaymentsWithoutOrder == 0 && poisonOk && c.Orders == options.Messages;
        return ok ? 0 : 1;
    }

    /// <summary>The nearest-rank percentile (with 5 values, p99 is the largest).</summary>
    private static double Percentile(List<double> values, double fraction)
    {
        var sorted = values.Order().ToArray();
        var rank = (int)Math.Ceiling(fraction * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }
}
