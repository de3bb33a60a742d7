using System.Globalization;

namespace Outbox.Benchmarks.Options;

/// <summary>The database a benchmark runs against.</summary>
public enum BenchProvider
{
    Postgres,
    Sqlite,
}

/// <summary>
/// The parsed command line: <c>&lt;scenario&gt; [options]</c>. Values left <see langword="null"/> fall back to the
/// scenario's or the library's default, so that a run measures the defaults a user gets unless told otherwise.
/// </summary>
public sealed class BenchOptions
{
    public string Scenario { get; private set; } = "";

    public bool Help { get; private set; }

    public BenchProvider Provider { get; private set; } = BenchProvider.Postgres;

    /// <summary>An existing database; without it a throwaway one is started (PostgreSQL) or created (SQLite file).</summary>
    public string? Connection { get; private set; }

    /// <summary>Extra connection-string keywords appended to the connection string (e.g. <c>Max Auto Prepare=20</c>).</summary>
    public string? ConnectionOptions { get; private set; }

    /// <summary>postgresql.conf settings for the throwaway cluster (<c>--pg-setting name=value</c>, repeatable).</summary>
    public IReadOnlyDictionary<string, string> PostgresSettings => _postgresSettings;

    public int? Messages { get; private set; }

    /// <summary>Experiment: override the outbox table's fillfactor after creating it from the model (PostgreSQL).</summary>
    public int? PostgresFillFactor { get; private set; }

    public int Dispatchers { get; private set; } = 1;

    /// <summary>Dispatcher loops per host; <see langword="null"/> = the library default.</summary>
    public int? Concurrency { get; private set; }

    /// <summary>Claim batch size; <see langword="null"/> = the library default.</summary>
    public int? Batch { get; private set; }

    /// <summary>Polling interval in milliseconds; <see langword="null"/> = the library default.</summary>
    public int? PollMilliseconds { get; private set; }

    /// <summary>Producer tasks: the option as given, or the scenario's default (steady 16, business 8).</summary>
    public int? ProducersOption { get; private set; }

    /// <summary>steady: producer tasks (default 16).</summary>
    public int Producers => ProducersOption ?? 16;

    public int Rate { get; private set; } = 1500;

    public double? Seconds { get; private set; }

    public bool Baseline { get; private set; }

    public bool Naive { get; private set; }

    public int? NaiveMessages { get; private set; }

    public bool Wakeup { get; private set; } = true;

    /// <summary>Partition keys of the messages: none, unique, or N keys in turn.</summary>
    public Infrastructure.PartitionKeys Keys { get; private set; } = Infrastructure.PartitionKeys.None;

    public bool Warmup { get; private set; } = true;

    /// <summary>
    /// Whether the benchmark's DbContexts (producers', dispatchers' and consumers') are registered with
    /// <c>AddDbContextPool</c> instead of <c>AddDbContext</c>; the baseline's too, so ratios compare like with like.
    /// </summary>
    public bool ContextPool { get; private set; }

    /// <summary>drain: how many times the measured runs are repeated (medians are reported).</summary>
    public int Repeat { get; private set; } = 1;

    /// <summary>rabbitmq/kafka/activemq: the consumer's concurrent lanes (<c>ConcurrentMessages</c>); 8 unless given.</summary>
    public int Lanes => LanesOption ?? 8;

    /// <summary>The consumer's lanes as given on the command line, or null.</summary>
    public int? LanesOption { get; private set; }

    /// <summary>
    /// rabbitmq: run the consumer with the library's defaults (lanes, prefetch, inbox batch), ignoring the scenario's own
    /// tuning; business does so unless --lanes, --prefetch or --inbox-batch is given.
    /// </summary>
    public bool Defaults { get; private set; }

    /// <summary>rabbitmq: the consumer's prefetch count; <see langword="null"/> = enough for every lane's batches.</summary>
    public int? Prefetch { get; private set; }

    /// <summary>rabbitmq: inbox messages per transaction; <see langword="null"/> = the library default.</summary>
    public int? InboxBatch { get; private set; }

    /// <summary>http: the most messages per POST in the batching phase; <see langword="null"/> = the library default.</summary>
    public int? HttpBatch { get; private set; }

    /// <summary>rabbitmq: whether the consumer runs; off measures outbox → broker alone.</summary>
    public bool Consumer { get; private set; } = true;

    /// <summary>kafka: bootstrap servers; <see langword="null"/> = find or start a cluster as the tests do.</summary>
    public string? Kafka { get; private set; }

    /// <summary>kafka: partitions of the benchmark's topic; rabbitmq: the partitions of a partitioned queue (when given).</summary>
    public int Partitions { get; private set; } = 8;

    /// <summary>rabbitmq: whether <c>--partitions</c> was given, so the scenario uses a partitioned queue.</summary>
    public bool PartitionsGiven { get; private set; }

    /// <summary>rabbitmq: how many consumer hosts consume the (partitioned) queue.</summary>
    public int Consumers { get; private set; } = 1;

    /// <summary>rabbitmq: the broker's amqp:// URI; <see langword="null"/> = find or start one as the tests do.</summary>
    public Uri? Amqp { get; private set; }

    /// <summary>PostgreSQL: <c>ClaimFloorRefreshInterval</c> in milliseconds; <see langword="null"/> = the library default.</summary>
    public int? PgFloorRefreshMilliseconds { get; private set; }

    /// <summary>PostgreSQL: <c>ClaimFloorRescanInterval</c> in seconds (0 = no floor); <see langword="null"/> = the library default.</summary>
    public double? PgFloorRescanSeconds { get; private set; }

    /// <summary>PostgreSQL: <c>SynchronousCommit</c> of the dispatchers' statements; <see langword="null"/> = the library default.</summary>
    public bool? PgSynchronousCommit { get; private set; }

    /// <summary>oversized: the size of the row written by SQL, in MiB.</summary>
    public int PayloadMegabytes { get; private set; } = 100;

    /// <summary>isolation: the transport, rabbitmq or http.</summary>
    public string Transport { get; private set; } = "rabbitmq";

    /// <summary>isolation (http): how long the bad receiver refuses connections, in seconds.</summary>
    public double OutageSeconds { get; private set; } = 60;

    /// <summary>failover: Npgsql's <c>Host Recheck Seconds</c> in the dispatcher's multi-host connection string.</summary>
    public int HostRecheckSeconds { get; private set; } = 1;

    /// <summary>xmin: how long the other session keeps its transaction (and snapshot) open, in seconds.</summary>
    public double HoldSeconds { get; private set; } = 180;

    /// <summary>soak: the most messages the producer lets wait in the outbox.</summary>
    public int Backlog { get; private set; } = 200_000;

    /// <summary>soak: messages per reported segment.</summary>
    public int ReportEvery { get; private set; } = 1_000_000;

    /// <summary>tenants: tenant databases (default 50).</summary>
    public int Tenants { get; private set; } = 50;

    /// <summary>tenants: of them, how many start with a deep backlog (default 1).</summary>
    public int HotTenants { get; private set; } = 1;

    /// <summary>These options, connected to <paramref name="connectionString"/> (a tenant database of the tenants scenario).</summary>
    public BenchOptions WithConnection(string connectionString)
    {
        var copy = (BenchOptions)MemberwiseClone();
        copy.Connection = connectionString;
        copy.ConnectionOptions = null;
        return copy;
    }

    /// <summary>How long a phase may take before the run is declared failed.</summary>
    public double TimeoutSeconds { get; private set; } = 600;

    /// <summary>The arguments as given, for the report.</summary>
    public IReadOnlyList<string> Arguments { get; private set; } = [];

    private readonly Dictionary<string, string> _postgresSettings = new(StringComparer.Ordinal);

    public const string Usage = """
        Usage: dotnet run -c Release --project tests/Outbox.Benchmarks -- <scenario> [options]

        Scenarios:
          drain    pre-fill N messages, start D dispatcher hosts, time until the outbox is empty
          steady   P producers commit order + message at R/s for S seconds; commit-to-delivery latency
          rabbitmq PostgreSQL/SQLite outbox -> RabbitMQ (confirms) -> consumer with the EF inbox; N messages end to end
          business 8 producers, each message in its own business transaction (order row + Publish), RabbitMQ, consumer
                   writing a payment row through the inbox; baseline = the same transactions without the outbox; ratio,
                   commit -> handled p50/p99, CPU per message per process (consumer: library defaults unless tuned)
          kafka    PostgreSQL/SQLite outbox -> Kafka (idempotent, acks=all) -> group consumer with the EF inbox; N end to end
          activemq PostgreSQL/SQLite outbox -> ActiveMQ over STOMP (receipts) -> consumer with the EF inbox; --lanes, --prefetch,
                   --inbox-batch and --baseline (raw STOMP ceiling) as for rabbitmq; broker: OUTBOX_TEST_ACTIVEMQ, else a local one
          soak     sustained load over N messages (default 10M): throughput, table/index size, dead tuples per segment
          xmin     steady load with and without another session holding a transaction open; claim latency
          oversized a row of --payload-mb written by SQL is dead-lettered; the process's peak RSS growth meanwhile
          isolation healthy destination's p50/p99 with and without a bad one next to it (--transport rabbitmq|http)
          http     PostgreSQL/SQLite outbox -> signed HTTP POSTs -> Kestrel inbox (EF, same database kind); N messages end to
                   end with one message per POST, then with batches (--http-batch), in the same run: msg/s and requests/message
          pooler   drain msg/s direct vs through PgBouncer, and cross-process wake-up latency behind it
          failover primary killed, standby promoted (--repeat N times, default 3): promote complete -> next delivery
          tenants  a database per tenant (PostgreSQL): --hot tenants with --messages each waiting, the others trickling;
                   quiet tenants' commit -> delivered p99, the hot drain rate against a single outbox's in the same run

        Options:
          --provider postgres|sqlite   database (default postgres)
          --connection <cs>            use this database (tables go to schema outbox_bench on PostgreSQL);
                                       default: a throwaway PostgreSQL / a temporary SQLite file
          --connection-options <kv>    keywords appended to the connection string, e.g. "Max Auto Prepare=20"
          --pg-setting <name=value>    postgresql.conf setting of the throwaway cluster (repeatable)
          --pg-fillfactor N            experiment: ALTER the outbox table's fillfactor (the model says 70)
          --messages N                 drain/rabbitmq: messages to pre-fill (default 100000); soak: total (default 10M);
                                       business: transactions per phase (default 4000)
          --dispatchers D              dispatcher hosts, each with its own store and pool (default 1)
          --concurrency C              dispatcher loops per host (default: library default)
          --batch B                    claim batch size (default: library default)
          --poll <ms>                  polling interval (default: library default)
          --baseline                   drain: also run the raw-SQL ceiling (claim+delete in one statement)
          --naive                      drain: also run a naive one-row-per-transaction outbox
          --naive-messages N           messages for --naive (default min(N, 20000))
          --repeat K                   drain: alternate the library and ceiling runs K times, report medians (default 1)
          --producers P                steady: producer tasks (default 16); business (default 8)
          --rate R                     steady: total commits per second; xmin: messages inserted per second (default 1500)
          --seconds S                  steady: measured seconds (default 20); xmin: each phase (default: --hold)
          --wakeup on|off              steady: in-process wake-up via UseOutbox(sp) (default on)
          --context-pool on|off        DbContexts registered with AddDbContextPool (baseline's too; default off)
          --lanes N                    rabbitmq: consumer lanes (ConcurrentMessages, default 8; business: library default)
          --defaults                   rabbitmq: the consumer with the library defaults (lanes, prefetch, inbox batch)
          --prefetch N                 rabbitmq: consumer prefetch (default: lanes x inbox batch x 2, at least 32)
          --inbox-batch N              rabbitmq: inbox messages per transaction (default: library default)
          --consumer on|off            rabbitmq: off measures outbox -> broker alone (default on)
          --http-batch N               http: most messages per POST in the batching phase (default: library default)
          --kafka <host:port,...>      kafka: cluster (default: OUTBOX_TEST_KAFKA, Testcontainers, else librdkafka's mock cluster)
          --partitions N               kafka: partitions of the topic (default 8); --lanes = partitions processed at once;
                                       rabbitmq: a partitioned queue of N partition queues (single active consumer each)
          --consumers M                rabbitmq: consumer hosts on the queue (default 1); reports per-key order violations
          --amqp <uri>                 rabbitmq: broker (default: OUTBOX_TEST_RABBITMQ, else the local rabbitmq-server)
          --pg-floor-refresh <ms>      PostgreSQL ClaimFloorRefreshInterval (default: library default)
          --pg-floor-rescan <s>        PostgreSQL ClaimFloorRescanInterval, 0 = no claim floor (default: library default)
          --pg-synchronous-commit on|off  PostgreSQL SynchronousCommit of the dispatchers' statements (default: library default, off)
          --payload-mb N               oversized: the row's payload in MiB (default 100)
          --tenants N                  tenants: tenant databases (default 50)
          --hot H                      tenants: tenants with a deep backlog (default 1); --messages = its size (default 100000)
          --transport rabbitmq|http    isolation: the transport (default rabbitmq)
          --outage-seconds S           isolation (http): how long the bad receiver refuses connections (default 60)
          --host-recheck-seconds N     failover: Npgsql's Host Recheck Seconds (default 1; Npgsql's own default is 10)
          --hold <s>                   xmin: how long the other session holds its transaction open (default 180)
          --backlog N                  soak: most messages waiting in the outbox at any time (default 200000)
          --report-every N             soak: messages per reported segment (default 1000000)
          --keys none|unique|N         partition keys: none (default), one per message, or N keys in turn
          --no-warmup                  skip the unmeasured warm-up
          --timeout <s>                fail a phase (soak: a segment) that takes longer (default 600)
          --help                       this text
        """;

    public static BenchOptions Parse(IReadOnlyList<string> args)
    {
        ArgumentNullException.ThrowIfNull(args);
        var options = new BenchOptions { Arguments = [.. args] };
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (arg is "--help" or "-h" or "help")
            {
                options.Help = true;
                continue;
            }

            if (!arg.StartsWith("--", StringComparison.Ordinal))
            {
                if (options.Scenario.Length > 0)
                {
                    throw new BenchOptionsException($"Unexpected argument '{arg}': the scenario is already '{options.Scenario}'.");
                }

                options.Scenario = arg;
                continue;
            }

            // --name=value or --name value
            var name = arg;
            string? inline = null;
            var equals = arg.IndexOf('=', StringComparison.Ordinal);
            if (equals > 0)
            {
                name = arg[..equals];
                inline = arg[(equals + 1)..];
            }

            string Value()
            {
                if (inline is not null)
                {
                    return inline;
                }

                if (i + 1 >= args.Count || args[i + 1].StartsWith("--", StringComparison.Ordinal))
                {
                    throw new BenchOptionsException($"Option {name} needs a value.");
                }

                return args[++i];
            }

            void NoValue()
            {
                if (inline is not null)
                {
                    throw new BenchOptionsException($"Option {name} takes no value (got '{inline}').");
                }
            }

            switch (name)
            {
                case "--provider":
                    options.Provider = Value().ToLowerInvariant() switch
                    {
                        "postgres" or "postgresql" or "pg" => BenchProvider.Postgres,
                        "sqlite" => BenchProvider.Sqlite,
                        var other => throw new BenchOptionsException($"Option --provider: '{other}' is not postgres or sqlite."),
                    };
                    break;
                case "--connection":
                    options.Connection = Value();
                    break;
                case "--connection-options":
                    options.ConnectionOptions = Value();
                    break;
                case "--pg-setting":
                    var setting = Value();
                    var split = setting.IndexOf('=', StringComparison.Ordinal);
                    if (split <= 0)
                    {
                        throw new BenchOptionsException($"Option --pg-setting: '{setting}' is not name=value.");
                    }

                    options._postgresSettings[setting[..split].Trim()] = setting[(split + 1)..].Trim();
                    break;
                case "--pg-fillfactor":
                    options.PostgresFillFactor = Int(name, Value(), 10, 100);
                    break;
                case "--payload-mb":
                    options.PayloadMegabytes = Int(name, Value(), 1, 1024);
                    break;
                case "--transport":
                    options.Transport = Value().ToLowerInvariant() switch
                    {
                        var t when t is "rabbitmq" or "http" => t,
                        var other => throw new BenchOptionsException($"Option --transport: '{other}' is not rabbitmq or http."),
                    };
                    break;
                case "--outage-seconds":
                    options.OutageSeconds = Int(name, Value(), 1, 3600);
                    break;
                case "--host-recheck-seconds":
                    options.HostRecheckSeconds = Int(name, Value(), 0, 3600);
                    break;
                case "--tenants":
                    options.Tenants = Int(name, Value(), 2, 500);
                    break;
                case "--hot":
                    options.HotTenants = Int(name, Value(), 0, 100);
                    break;
                case "--messages":
                    options.Messages = Int(name, Value(), 1, 100_000_000);
                    break;
                case "--dispatchers":
                    options.Dispatchers = Int(name, Value(), 1, 64);
                    break;
                case "--concurrency":
                    options.Concurrency = Int(name, Value(), 1, 64);
                    break;
                case "--batch":
                    options.Batch = Int(name, Value(), 1, 10_000);
                    break;
                case "--poll":
                    options.PollMilliseconds = Int(name, Value(), 1, 300_000);
                    break;
                case "--producers":
                    options.ProducersOption = Int(name, Value(), 1, 1_000);
                    break;
                case "--rate":
                    options.Rate = Int(name, Value(), 1, 10_000_000);
                    break;
                case "--seconds":
                    options.Seconds = Double(name, Value(), 0.1, 86_400);
                    break;
                case "--timeout":
                    options.TimeoutSeconds = Double(name, Value(), 1, 86_400);
                    break;
                case "--repeat":
                    options.Repeat = Int(name, Value(), 1, 100);
                    break;
                case "--naive-messages":
                    options.NaiveMessages = Int(name, Value(), 1, 100_000_000);
                    break;
                case "--lanes":
                    options.LanesOption = Int(name, Value(), 1, 256);
                    break;
                case "--prefetch":
                    options.Prefetch = Int(name, Value(), 1, 65_535);
                    break;
                case "--inbox-batch":
                    options.InboxBatch = Int(name, Value(), 1, 10_000);
                    break;
                case "--http-batch":
                    options.HttpBatch = Int(name, Value(), 2, 1_000);
                    break;
                case "--consumer":
                    options.Consumer = OnOff(name, Value());
                    break;
                case "--kafka":
                    options.Kafka = Value();
                    break;
                case "--partitions":
                    options.Partitions = Int(name, Value(), 1, 1000);
                    options.PartitionsGiven = true;
                    break;
                case "--consumers":
                    options.Consumers = Int(name, Value(), 1, 64);
                    break;
                case "--amqp":
                    var amqp = Value();
                    options.Amqp = Uri.TryCreate(amqp, UriKind.Absolute, out var uri) && uri.Scheme is "amqp" or "amqps"
                        ? uri
                        : throw new BenchOptionsException($"Option --amqp: '{amqp}' is not an amqp:// or amqps:// URI.");
                    break;
                case "--pg-floor-refresh":
                    options.PgFloorRefreshMilliseconds = Int(name, Value(), 10, 60_000);
                    break;
                case "--pg-synchronous-commit":
                    options.PgSynchronousCommit = Value().ToLowerInvariant() switch
                    {
                        "on" => true,
                        "off" => false,
                        var other => throw new BenchOptionsException($"Option --pg-synchronous-commit: '{other}' is not on or off."),
                    };
                    break;
                case "--pg-floor-rescan":
                    options.PgFloorRescanSeconds = Double(name, Value(), 0, 600);
                    break;
                case "--hold":
                    options.HoldSeconds = Double(name, Value(), 1, 86_400);
                    break;
                case "--backlog":
                    options.Backlog = Int(name, Value(), 1_000, 100_000_000);
                    break;
                case "--report-every":
                    options.ReportEvery = Int(name, Value(), 1_000, 100_000_000);
                    break;
                case "--baseline":
                    NoValue();
                    options.Baseline = true;
                    break;
                case "--defaults":
                    NoValue();
                    options.Defaults = true;
                    break;
                case "--naive":
                    NoValue();
                    options.Naive = true;
                    break;
                case "--no-warmup":
                    NoValue();
                    options.Warmup = false;
                    break;
                case "--keys":
                    options.Keys = Infrastructure.PartitionKeys.Parse(Value());
                    break;
                case "--context-pool":
                    options.ContextPool = OnOff(name, Value());
                    break;
                case "--wakeup":
                    options.Wakeup = OnOff(name, Value());
                    break;
                default:
                    throw new BenchOptionsException($"Unknown option '{name}'. Run with --help for the list.");
            }
        }

        if (!options.Help && options.Scenario.Length == 0)
        {
            throw new BenchOptionsException($"No scenario given. Known scenarios: {string.Join(", ", Scenarios.ScenarioCatalog.Names)}.");
        }

        if (options.PostgresFillFactor is not null && options.Provider != BenchProvider.Postgres)
        {
            throw new BenchOptionsException("Option --pg-fillfactor applies only to --provider postgres.");
        }

        if (options.PostgresSettings.Count > 0 && (options.Provider != BenchProvider.Postgres || options.Connection is not null))
        {
            throw new BenchOptionsException("Option --pg-setting applies only to the throwaway PostgreSQL cluster (--provider postgres, no --connection).");
        }

        return options;
    }

    private static bool OnOff(string name, string text) => text.ToLowerInvariant() switch
    {
        "on" or "true" or "1" => true,
        "off" or "false" or "0" => false,
        _ => throw new BenchOptionsException($"Option {name}: '{text}' is not on or off."),
    };

    private static int Int(string name, string text, int min, int max)
    {
        // Accept 100000, 100_000 and 100k.
        var cleaned = text.Replace("_", "", StringComparison.Ordinal);
        var multiplier = 1;
        if (cleaned.EndsWith('k') || cleaned.EndsWith('K'))
        {
            multiplier = 1_000;
            cleaned = cleaned[..^1];
        }
        else if (cleaned.EndsWith('m') || cleaned.EndsWith('M'))
        {
            multiplier = 1_000_000;
            cleaned = cleaned[..^1];
        }

        if (!long.TryParse(cleaned, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) || value * multiplier < min || value * multiplier > max)
        {
            throw new BenchOptionsException($"Option {name}: '{text}' is not a whole number from {min} to {max}.");
        }

        return (int)(value * multiplier);
    }

    private static double Double(string name, string text, double min, double max)
    {
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
        {
            throw new BenchOptionsException($"Option {name}: '{text}' is not a number from {min} to {max}.");
        }

        return value;
    }
}

/// <summary>A bad command line; the message names the option.</summary>
public sealed class BenchOptionsException(string message) : Exception(message);
