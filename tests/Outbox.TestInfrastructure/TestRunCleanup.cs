using System.Collections.Concurrent;

namespace Outbox.TestInfrastructure;

/// <summary>
/// Cleanup of the servers a test process started or used (stop a cluster, drop databases, release a broker), run
/// once each, newest first, by whichever comes first:
/// <list type="bullet">
/// <item><see cref="RunAsync"/>, which the xunit test projects call when their test run ends (see
/// <c>Xunit/StopTestServersWhenTheRunEnds.cs</c>), inside the runner, while it still waits;</item>
/// <item><see cref="AppDomain.ProcessExit"/>, the fallback for the harness and the benchmarks.</item>
/// </list>
/// Cleanup must not wait for ProcessExit in a test process: xunit's runner returns before it, and if the process has
/// not exited 11 s later it prints "Waiting 10 seconds for foreground threads to exit" and fails the module with
/// "Foreground threads were left running" (no foreground thread is involved). On a loaded machine the throwaway
/// cluster's cleanup took that long: <c>pg_ctl stop</c>, then deleting a data directory that holds every database
/// the module created (a stack taken during the wait showed the main thread in the ProcessExit handler and a pool
/// thread in <c>unlink</c> under <c>/tmp/outbox-pg-*/data/base</c>). Nothing runs on SIGKILL;
/// <see cref="LocalPostgresCluster"/> has a watchdog for that.
/// </summary>
public static class TestRunCleanup
{
    private static readonly ConcurrentDictionary<long, Func<Task>> Cleanups = new();
    private static long _next;

    static TestRunCleanup() => AppDomain.CurrentDomain.ProcessExit += (_, _) => RunAsync().GetAwaiter().GetResult();

    /// <summary>Registers <paramref name="cleanup"/>; returns a handle for <see cref="Unregister"/>.</summary>
    internal static long Register(Func<Task> cleanup)
    {
        var handle = Interlocked.Increment(ref _next);
        Cleanups[handle] = cleanup;
        return handle;
    }

    /// <summary>Forgets a cleanup that its owner has already done itself.</summary>
    internal static void Unregister(long handle) => Cleanups.TryRemove(handle, out _);

    /// <summary>Runs every registered cleanup not yet run, newest first. Failures are ignored: this is best effort.</summary>
    public static async Task RunAsync()
    {
        foreach (var handle in Cleanups.Keys.OrderDescending())
        {
            if (!Cleanups.TryRemove(handle, out var cleanup))
            {
                continue;
            }

            try
            {
                await cleanup().ConfigureAwait(false);
            }
            catch (Exception)
            {
                // Best effort: an exception escaping here would crash the exiting test run.
            }
        }
    }
}
