namespace Outbox.TestInfrastructure;

/// <summary>
/// Cleanup that runs when the process exits normally. Not on a signal: since .NET 10 the runtime no longer turns
/// SIGTERM into ProcessExit, and nothing runs on SIGKILL; <see cref="LocalPostgresCluster"/> has a watchdog for that.
/// </summary>
internal static class ProcessExitCleanup
{
    /// <summary>Registers <paramref name="cleanup"/>; returns the handler, for <see cref="Unregister"/>.</summary>
    public static EventHandler Register(Func<Task> cleanup)
    {
        EventHandler handler = (_, _) =>
        {
            try
            {
                cleanup().GetAwaiter().GetResult();
            }
            catch (Exception)
            {
                // Best effort: an exception escaping a ProcessExit handler would crash the exiting test run.
            }
        };
        AppDomain.CurrentDomain.ProcessExit += handler;
        return handler;
    }

    public static void Unregister(EventHandler handler) => AppDomain.CurrentDomain.ProcessExit -= handler;
}
