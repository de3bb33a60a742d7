using Outbox.Chaos.Orchestration;
using Outbox.Chaos.Roles;

namespace Outbox.Chaos;

/// <summary>
/// The reliability harness. Without --role it orchestrates a run; with --role it is one of the child processes.
/// Run: dotnet run -c Release --project tests/Outbox.Chaos -- --messages 200000 --kill-every 3 --db-restarts 3 --broker-restarts 3 --fault-rate 0.05
/// </summary>
public static class ChaosProgram
{
    public static async Task<int> Main(string[] args)
    {
        ChaosOptions options;
        try
        {
            options = ChaosOptions.Parse(args);
        }
        catch (ArgumentException ex)
        {
            await Console.Error.WriteLineAsync(ex.Message);
            return 2;
        }

        using var stop = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            stop.Cancel();
        };

        if (options.Role is not null && options.ParentPid > 0)
        {
            _ = WatchParentAsync(options.ParentPid, stop);
        }

        try
        {
            return options.Role switch
            {
                null => await new ChaosRun(options, Console.Out).RunAsync(stop.Token),
                "producer" => await ProducerRole.RunAsync(options, stop.Token),
                "dispatcher" => await DispatcherRole.RunAsync(options, stop.Token),
                "consumer" => await ConsumerRole.RunAsync(options, stop.Token),
                _ => throw new ArgumentException($"Unknown role '{options.Role}'."),
            };
        }
        catch (ArgumentException ex)
        {
            await Console.Error.WriteLineAsync(ex.Message);
            return 2;
        }
    }

    /// <summary>A child process ends itself when its orchestrator is gone (killed, crashed), so no run leaves orphans.</summary>
    private static async Task WatchParentAsync(int parentPid, CancellationTokenSource stop)
    {
        while (true)
        {
            await Task.Delay(1000);
            try
            {
                using var parent = System.Diagnostics.Process.GetProcessById(parentPid);
                if (parent.HasExited)
                {
                    break;
                }
            }
            catch (ArgumentException)
            {
                break; // no such process
            }
        }

        await stop.CancelAsync();
        await Task.Delay(5000);
        Environment.Exit(3);
    }
}
