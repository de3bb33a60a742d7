namespace Outbox.TestInfrastructure;

/// <summary>How <see cref="LocalPostgresCluster.StartAsync"/> creates and starts a throwaway cluster.</summary>
public sealed class LocalPostgresClusterOptions
{
    /// <summary>
    /// The TCP port on 127.0.0.1.
    /// <value>The default value is <see langword="null"/>: a free port is picked.</value>
    /// </summary>
    public int? Port { get; set; }

    /// <summary>
    /// The folder that holds the cluster (its data directory, socket and log). It must be absent or empty,
    /// and it is deleted when the cluster is disposed, as a fresh temporary folder would be.
    /// <value>The default value is <see langword="null"/>: a fresh folder under the system's temporary path.</value>
    /// </summary>
    public string? ClusterDirectory { get; set; }

    /// <summary>
    /// The folder of <c>initdb</c>, <c>pg_ctl</c> and <c>postgres</c>.
    /// <value>The default value is <see langword="null"/>: <c>pg_config --bindir</c>, else the newest
    /// <c>/usr/lib/postgresql/*/bin</c>.</value>
    /// </summary>
    public string? BinDirectory { get; set; }

    /// <summary>
    /// The <c>max_connections</c> setting: connection pools of several dispatchers and consumers add up.
    /// <value>The default value is 300.</value>
    /// </summary>
    public int MaxConnections { get; set; } = 300;

    /// <summary>
    /// More <c>postgresql.conf</c> settings, such as <c>synchronous_commit = off</c> for a benchmark.
    /// Durability is left on (<c>fsync</c>) unless set here: the reliability harness relies on real crash semantics.
    /// </summary>
    public IDictionary<string, string> Settings { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>
    /// How long a start or restart may take until the server accepts connections.
    /// <value>The default value is 60 seconds.</value>
    /// </summary>
    public TimeSpan StartTimeout { get; set; } = TimeSpan.FromSeconds(60);
}
