namespace Samples.ServiceDefaults;

/// <summary>Which database and transport a sample service runs on; the <c>Sample</c> configuration section.</summary>
public sealed class SampleOptions
{
    public const string SectionName = "Sample";

    /// <summary><c>Sqlite</c> (default: a file next to the service) or <c>PostgreSql</c>.</summary>
    public SampleDatabase Database { get; set; } = SampleDatabase.Sqlite;

    /// <summary><c>Http</c> (default: each dispatcher posts to the other service's inbox endpoint) or <c>RabbitMq</c>.</summary>
    public SampleTransport Transport { get; set; } = SampleTransport.Http;

    /// <summary>
    /// Fault injection for the demo: the share (0 to 1) of inbox responses that are dropped after the message was
    /// processed, so the sender never hears the 200 and sends again. The inbox must skip those duplicates.
    /// </summary>
    public double DropInboxResponses { get; set; }

    /// <summary>Whether the service applies its EF Core migrations at start-up (fine for a sample; see docs/operations.md).</summary>
    public bool MigrateOnStartup { get; set; } = true;
}

public enum SampleDatabase
{
    Sqlite,
    PostgreSql,
}

public enum SampleTransport
{
    Http,
    RabbitMq,
}
