using System.Globalization;

namespace Samples.Demo;

/// <summary>Command line of the demo.</summary>
internal sealed class DemoOptions
{
    public int Orders { get; private set; } = 200;

    public int Concurrency { get; private set; } = 8;

    public double DropResponses { get; private set; } = 0.05;

    public string Database { get; private set; } = "Sqlite";

    public string Transport { get; private set; } = "Http";

    public string? OrdersDb { get; private set; }

    public string? PaymentsDb { get; private set; }

    public string RabbitMq { get; private set; } = "amqp://guest:guest@localhost:5672/";

    public TimeSpan Timeout { get; private set; } = TimeSpan.FromMinutes(3);

    public bool Keep { get; private set; }

    public int Seed { get; private set; } = 7;

    public bool Help { get; private set; }

    public const string Usage = """
        Usage: dotnet run --project samples/Demo -- [options]

          --orders N            orders to place (default 200)
          --short               a quick run for tests: 30 orders, 60 s timeout
          --concurrency N       orders placed at a time (default 8)
          --drop-responses P    share of inbox responses dropped after processing, to provoke redeliveries (default 0.05)
          --database D          sqlite (default: files in a temp folder) or postgresql
          --orders-db CS        connection string of the order service (PostgreSQL)
          --payments-db CS      connection string of the payment service (PostgreSQL)
          --transport T         http (default: each service posts to the other's inbox) or rabbitmq
          --rabbitmq URI        broker for --transport rabbitmq (default amqp://guest:guest@localhost:5672/)
          --timeout SECONDS     how long to wait for every order to settle (default 180)
          --seed N              seed of the order amounts (default 7)
          --keep                keep the temp folder (databases, service logs)
        """;

    public static DemoOptions Parse(string[] args)
    {
        var options = new DemoOptions();
        for (var i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.");
            switch (args[i])
            {
                case "--orders": options.Orders = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--short": options.Orders = 30; options.Timeout = TimeSpan.FromSeconds(60); break;
                case "--concurrency": options.Concurrency = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--drop-responses": options.DropResponses = double.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--database": options.Database = Normalize(Next(), "Sqlite", "PostgreSql"); break;
                case "--orders-db": options.OrdersDb = Next(); break;
                case "--payments-db": options.PaymentsDb = Next(); break;
                case "--transport": options.Transport = Normalize(Next(), "Http", "RabbitMq"); break;
                case "--rabbitmq": options.RabbitMq = Next(); break;
                case "--timeout": options.Timeout = TimeSpan.FromSeconds(int.Parse(Next(), CultureInfo.InvariantCulture)); break;
                case "--seed": options.Seed = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--keep": options.Keep = true; break;
                case "--help" or "-h": options.Help = true; break;
                default: throw new ArgumentException($"Unknown option '{args[i]}'.");
            }
        }

        if (options.Orders < 1 || options.Concurrency < 1 || options.DropResponses is < 0 or >= 1)
        {
            throw new ArgumentException("--orders and --concurrency must be positive, --drop-responses in [0, 1).");
        }

        if (options.Database == "PostgreSql" && (options.OrdersDb is null || options.PaymentsDb is null))
        {
            throw new ArgumentException("--database postgresql needs --orders-db and --payments-db.");
        }

        return options;
    }

    private static string Normalize(string value, params string[] allowed) =>
        allowed.FirstOrDefault(a => string.Equals(a, value, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"'{value}' is not one of {string.Join(", ", allowed)}.");
}
