using System.Globalization;

namespace Outbox.Chaos.Orchestration;

/// <summary>Command-line options of the harness (and of its child processes).</summary>
public sealed class ChaosOptions
{
    public int Messages { get; set; } = 20_000;

    /// <summary>Upper bound on the whole run, a safety net; the run fails if it has not drained by then.</summary>
    public int Seconds { get; set; } = 900;

    /// <summary>
    /// Once the faults have stopped, the run fails when nothing more settled for this many seconds (progress, not
    /// speed: a loaded machine settles slowly but steadily).
    /// </summary>
    public int StallSeconds { get; set; } = 120;

    /// <summary>The faults (kills) go on until the producer has finished, the restarts are done and this many kills happened.</summary>
    public int MinKills { get; set; } = 3;

    /// <summary>Mean seconds between two kill -9 of a dispatcher or the consumer; 0 = no kills.</summary>
    public double KillEvery { get; set; } = 5;

    public int DbRestarts { get; set; }

    public int BrokerRestarts { get; set; }

    /// <summary>Share of transport sends that fail (half before reaching the broker, half as a lost confirm).</summary>
    public double FaultRate { get; set; } = 0.05;

    /// <summary>Share of orders whose payment handler always throws: they must end in the inbox dead letters.</summary>
    public double PoisonRate { get; set; } = 0.001;

    public string Provider { get; set; } = "postgres";

    public int Dispatchers { get; set; } = 2;

    public int Customers { get; set; } = 500;

    /// <summary>The consumer's inbox batch size (<c>InboxConsumerOptions.MaxBatchSize</c>); 1 = one transaction per message.</summary>
    public int InboxBatch { get; set; } = 1;

    /// <summary>Concurrent producer tasks (business transactions in flight at once).</summary>
    public int Producers { get; set; } = 8;

    /// <summary>Producer rate in business transactions per second; 0 = as fast as it can.</summary>
    public int Rate { get; set; }

    public int Seed { get; set; } = 1;

    public string? Connection { get; set; }

    /// <summary>Producers, dispatchers and consumers reach PostgreSQL through a throwaway PgBouncer in transaction mode.</summary>
    public bool PgBouncer { get; set; }

    public string? Amqp { get; set; }

    /// <summary>The broker the messages go through: <c>rabbitmq</c> (the default), <c>kafka</c> or <c>activemq</c> (STOMP).</summary>
    public string Transport { get; set; } = "rabbitmq";

    /// <summary>Kafka bootstrap servers; without it the harness finds a cluster (OUTBOX_TEST_KAFKA, Testcontainers, the mock cluster).</summary>
    public string? Kafka { get; set; }

    /// <summary>Partitions of the harness's Kafka topic.</summary>
    public int Partitions { get; set; } = 8;

    public bool IsKafka => Transport == "kafka";

    /// <summary>The ActiveMQ broker's <c>stomp://</c> address; without it the harness starts a throwaway local broker.</summary>
    public string? Stomp { get; set; }

    // Child-process settings, passed by the orchestrator.
    public string? Role { get; set; }

    public string? OrdersConnection { get; set; }

    public string? PaymentsConnection { get; set; }

    public string? RunId { get; set; }

    public int Index { get; set; }

    /// <summary>The orchestrator's process id: a child exits by itself when the orchestrator is gone.</summary>
    public int ParentPid { get; set; }

    public static ChaosOptions Parse(IReadOnlyList<string> args)
    {
        var options = new ChaosOptions();
        for (var i = 0; i < args.Count; i++)
        {
            var name = args[i];
            string Value() => i + 1 < args.Count ? args[++i] : throw new ArgumentException($"Option {name} needs a value.");
            int Int() => int.TryParse(Value(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v >= 0
                ? v : throw new ArgumentException($"Option {name} needs a non-negative integer, got '{args[i]}'.");
            double Double() => double.TryParse(Value(), NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v >= 0
                ? v : throw new ArgumentException($"Option {name} needs a non-negative number, got '{args[i]}'.");
            switch (name)
            {
                case "--messages": options.Messages = Int(); break;
                case "--seconds": options.Seconds = Int(); break;
                case "--stall-seconds": options.StallSeconds = Int(); break;
                case "--min-kills": options.MinKills = Int(); break;
                case "--kill-every": options.KillEvery = Double(); break;
                case "--db-restarts": options.DbRestarts = Int(); break;
                case "--broker-restarts": options.BrokerRestarts = Int(); break;
                case "--fault-rate": options.FaultRate = Double(); break;
                case "--poison-rate": options.PoisonRate = Double(); break;
                case "--provider": options.Provider = Value(); break;
                case "--dispatchers": options.Dispatchers = Int(); break;
                case "--customers": options.Customers = Int(); break;
                case "--inbox-batch": options.InboxBatch = Int(); break;
                case "--producers": options.Producers = Int(); break;
                case "--rate": options.Rate = Int(); break;
                case "--seed": options.Seed = Int(); break;
                case "--connection": options.Connection = Value(); break;
                case "--pgbouncer": options.PgBouncer = true; break;
                case "--amqp": options.Amqp = NullIfEmpty(Value()); break;
                case "--transport": options.Transport = Value(); break;
                case "--kafka": options.Kafka = NullIfEmpty(Value()); break;
                case "--partitions": options.Partitions = Int(); break;
                case "--stomp": options.Stomp = NullIfEmpty(Value()); break;
                case "--role": options.Role = Value(); break;
                case "--orders": options.OrdersConnection = Value(); break;
                case "--payments": options.PaymentsConnection = Value(); break;
                case "--run-id": options.RunId = Value(); break;
                case "--index": options.Index = Int(); break;
                case "--parent-pid": options.ParentPid = Int(); break;
                default: throw new ArgumentException($"Unknown option '{name}'. Known: --messages --seconds --stall-seconds --min-kills --kill-every --db-restarts --broker-restarts --fault-rate --poison-rate --provider --dispatchers --customers --inbox-batch --producers --rate --seed --connection --pgbouncer --amqp --transport --kafka --partitions --stomp.");
            }
        }

        if (options.Provider != "postgres")
        {
            throw new ArgumentException($"--provider {options.Provider} is not supported yet: the harness runs PostgreSQL + RabbitMQ (SQLite has no server to restart and one writer; see docs/reliability.md).");
        }

        if (options.Transport is not ("rabbitmq" or "kafka" or "activemq"))
        {
            throw new ArgumentException($"--transport {options.Transport} is not supported: use rabbitmq, kafka or activemq.");
        }

        if (options.IsKafka && options.BrokerRestarts > 0)
        {
            throw new ArgumentException("--broker-restarts is for RabbitMQ and ActiveMQ only: the harness cannot restart a Kafka cluster (see docs/kafka.md).");
        }

        if (options.Partitions == 0)
        {
            throw new ArgumentException("--partitions must be at least 1.");
        }

        if (options.FaultRate > 0.5 || options.PoisonRate > 0.5)
        {
            throw new ArgumentException("--fault-rate and --poison-rate must be at most 0.5.");
        }

        if (options.Messages == 0 || options.Dispatchers == 0 || options.Customers == 0 || options.InboxBatch < 1)
        {
            throw new ArgumentException("--messages, --dispatchers, --customers and --inbox-batch must be at least 1.");
        }

        return options;
    }

    private static string? NullIfEmpty(string value) => value.Length == 0 ? null : value;

    /// <summary>The arguments that start a child process in <paramref name="role"/>.</summary>
    public IReadOnlyList<string> ChildArguments(string role, int index) =>
    [
        "--role", role, "--index", index.ToString(CultureInfo.InvariantCulture),
        "--parent-pid", Environment.ProcessId.ToString(CultureInfo.InvariantCulture),
        "--orders", OrdersConnection!, "--payments", PaymentsConnection!, "--amqp", Amqp ?? "", "--run-id", RunId!,
        "--transport", Transport, "--stomp", Stomp ?? "", "--kafka", Kafka ?? "",
        "--messages", Messages.ToString(CultureInfo.InvariantCulture), "--customers", Customers.ToString(CultureInfo.InvariantCulture),
        "--inbox-batch", InboxBatch.ToString(CultureInfo.InvariantCulture),
        "--fault-rate", FaultRate.ToString(CultureInfo.InvariantCulture), "--poison-rate", PoisonRate.ToString(CultureInfo.InvariantCulture),
        "--rate", Rate.ToString(CultureInfo.InvariantCulture), "--producers", Producers.ToString(CultureInfo.InvariantCulture), "--seed", (Seed * 1000 + index).ToString(CultureInfo.InvariantCulture),
    ];
}
