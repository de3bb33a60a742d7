namespace Outbox.EntityFrameworkCore.PostgreSql;

/// <summary>Options of the PostgreSQL outbox store.</summary>
public sealed class OutboxPostgreSqlOptions
{
    /// <summary>
    /// The connection string the dispatcher uses. Set it when the DbContext is configured with a data source or a
    /// connection rather than a connection string, or to give the dispatcher its own pool settings.
    /// <value>The default value is <see langword="null"/>: the DbContext's connection string.</value>
    /// </summary>
    public string? ConnectionString { get; set; }

    /// <summary>A copy of these options for the database of <paramref name="connectionString"/> (a tenant's).</summary>
    internal OutboxPostgreSqlOptions ForDatabase(string connectionString)
    {
        var copy = (OutboxPostgreSqlOptions)MemberwiseClone();
        copy.ConnectionString = connectionString;
        return copy;
    }

    /// <summary>
    /// Whether the dispatcher's own statements (claims, acknowledgements, reschedules, dead-letter moves) wait for
    /// their commit to reach disk. With <see langword="false"/> they run with <c>synchronous_commit = off</c>: a
    /// database crash can forget the last few hundred milliseconds of them, which only means that some messages are
    /// claimed or sent again — at-least-once delivery the consumer's inbox absorbs — while each of those commits costs
    /// no disk flush. Business transactions and publishes (the application's own connections) are not affected. The
    /// setting travels with each statement (<c>set_config('synchronous_commit', 'off', true)</c> in the same round trip
    /// and transaction), not with the connection, so it works through a pooler such as PgBouncer in transaction mode.
    /// <value>The default value is <see langword="false"/>.</value>
    /// </summary>
    public bool SynchronousCommit { get; set; }

    /// <summary>
    /// Whether committed publishes wake dispatchers in other processes through <c>LISTEN</c>/<c>NOTIFY</c> (sent after
    /// the commit, from a connection of its own). Without it, other processes find messages at their next poll.
    /// <value>The default value is <see langword="true"/>.</value>
    /// </summary>
    public bool Notifications { get; set; } = true;

    /// <summary>
    /// The connection string of the wake-up listener's own long-lived connection (<c>LISTEN</c>, see
    /// <see cref="Notifications"/>). It must reach PostgreSQL directly: a pooler in transaction mode (PgBouncer, RDS
    /// Proxy, Supavisor, pgcat) hands the listener's server connection to others between statements and drops the
    /// notifications that arrive meanwhile. The listener checks this after each <c>LISTEN</c> with a <c>NOTIFY</c> to
    /// itself, sent from another connection, and logs a warning naming this option when it does not come back; the
    /// dispatchers then find messages by polling. The listener needs one connection per process, so it may bypass the
    /// pooler where everything else goes through it. Publishes send their <c>NOTIFY</c> as before, through the pooler.
    /// <value>The default value is <see langword="null"/>: <see cref="ConnectionString"/>, else the DbContext's connection string.</value>
    /// </summary>
    public string? ListenerConnectionString { get; set; }

    /// <summary>
    /// The shortest time between two <c>NOTIFY</c>s from one process: commits in between share one notification.
    /// <value>The default value is 5 milliseconds.</value>
    /// </summary>
    [System.ComponentModel.DataAnnotations.Range(typeof(TimeSpan), "00:00:00", "00:00:10")]
    public TimeSpan NotifyInterval { get; set; } = TimeSpan.FromMilliseconds(5);

    /// <summary>
    /// The least age of a claim floor. The dispatcher's claims scan from a floor, the lowest id left in the outbox
    /// table, so that they skip the index entries of rows already delivered: when another session holds a transaction
    /// (a snapshot) open for long, PostgreSQL cannot clean those entries up meanwhile, and every claim would otherwise
    /// walk all of them. Ids are taken when a message is written but become visible when its transaction commits, so a
    /// lowest id read in the background is used only once every transaction that was writing to the outbox table at
    /// that read has ended, however long it takes, and then with the rows they committed counted in: a message is
    /// claimed as soon as it commits. It is also no younger than this lag. A transaction that keeps a message written
    /// but uncommitted holds the floor back meanwhile; other transactions do not. A row that ends up below the floor
    /// anyway (an id given by hand) is found by the next rescan (<see cref="ClaimFloorRescanInterval"/>).
    /// <value>The default value is 1 second.</value>
    /// </summary>
    [System.ComponentModel.DataAnnotations.Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan ClaimFloorLag { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How often the claim floor (<see cref="ClaimFloorLag"/>) is read again, in the background, from where it was.
    /// <value>The default value is 200 milliseconds.</value>
    /// </summary>
    [System.ComponentModel.DataAnnotations.Range(typeof(TimeSpan), "00:00:00.010", "00:01:00")]
    public TimeSpan ClaimFloorRefreshInterval { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// How often the claim floor is read again from the start of the table, a safety net: a message that ended up below
    /// the floor (see <see cref="ClaimFloorLag"/>) waits at most this long. <c>00:00:00</c> turns the floor off: every
    /// claim scans from the start.
    /// <value>The default value is 10 seconds.</value>
    /// </summary>
    [System.ComponentModel.DataAnnotations.Range(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan ClaimFloorRescanInterval { get; set; } = TimeSpan.FromSeconds(10);
}
