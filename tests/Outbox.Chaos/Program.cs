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
}
