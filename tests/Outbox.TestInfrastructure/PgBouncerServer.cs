namespace Outbox.TestInfrastructure;

/// <summary>
/// The PgBouncer shared by all tests of a process: a <see cref="LocalPgBouncer"/> in transaction mode in front of the
/// process's <see cref="PostgresServer"/>, started by the first caller. Tests make a database on the server
/// (<see cref="CreateDatabaseAsync"/>) and get two connection strings to it: through the pooler and direct.
/// </summary>
public sealed class PgBouncerServer
{
    private static readonly SharedServer<PgBouncerServer> Shared = new(FindAsync);

    private PgBouncerServer(PostgresServer server, LocalPgBouncer bouncer)
    {
        Server = server;
        Bouncer = bouncer;
    }

    /// <summary>The PostgreSQL server behind the pooler.</summary>
    public PostgresServer Server { get; }

    /// <summary>The pooler.</summary>
    public LocalPgBouncer Bouncer { get; }

    /// <summary>Returns the process-wide pooler, starting it (and the server) on the first call.</summary>
    /// <exception cref="ServerUnavailableException">No PostgreSQL server or no pgbouncer binary; the message says why.</exception>
    public static Task<PgBouncerServer> AcquireAsync(CancellationToken cancellationToken = default) =>
        Shared.AcquireAsync(cancellationToken);

    /// <summary>Creates a fresh database on the server; returns its connection strings through the pooler and direct.</summary>
    /// <param name="namePrefix">As for <see cref="PostgresServer.CreateDatabaseAsync"/>.</param>
    /// <param name="cancellationToken">Cancels the creation.</param>
    public async Task<(string Pooled, string Direct)> CreateDatabaseAsync(string? namePrefix = null, CancellationToken cancellationToken = default)
    {
        var direct = await Server.CreateDatabaseAsync(namePrefix, cancellationToken);
        return (Bouncer.Through(direct), direct);
    }

    private static async Task<PgBouncerServer> FindAsync(CancellationToken cancellationToken)
    {
        var server = await PostgresServer.AcquireAsync(cancellationToken);
        try
        {
            return new PgBouncerServer(server, await LocalPgBouncer.StartAsync(server.ConnectionString, cancellationToken: cancellationToken));
        }
        catch (ServerUnavailableException exception)
        {
            throw ServerUnavailableException.From("PgBouncer", [$"local pgbouncer: {exception.Message}"]);
        }
    }
}
