namespace Outbox.TestInfrastructure;

/// <summary>
/// No test server could be found or started. The message lists every way that was tried and why each failed,
/// so a skipped or failed test says what to install or which environment variable to set.
/// </summary>
public sealed class ServerUnavailableException : Exception
{
    public ServerUnavailableException()
    {
    }

    public ServerUnavailableException(string message)
        : base(message)
    {
    }

    public ServerUnavailableException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    internal static ServerUnavailableException From(string server, IReadOnlyList<string> attempts) =>
        new($"No {server} server is available for the tests. Tried:{Environment.NewLine}"
            + string.Join(Environment.NewLine, attempts.Select(a => "  - " + a)));
}
