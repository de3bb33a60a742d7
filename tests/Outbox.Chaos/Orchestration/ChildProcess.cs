using System.Diagnostics;

namespace Outbox.Chaos.Orchestration;

/// <summary>One role running as a separate OS process (this same program, started with --role), restartable.</summary>
public sealed class ChildProcess(string name, IReadOnlyList<string> arguments, Action<string, string>? onOutput = null) : IDisposable
{
    private Process? _process;

    public string Name { get; } = name;

    public int Starts { get; private set; }

    public bool IsRunning => _process is { HasExited: false };

    public int? ExitCode => _process is { HasExited: true } p ? p.ExitCode : null;

    public void Start()
    {
        var info = new ProcessStartInfo(Environment.ProcessPath!)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };

        // Run the same entry assembly: "dotnet Outbox.Chaos.dll --role ..." or the apphost directly.
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet")
        {
            info.ArgumentList.Add(typeof(ChildProcess).Assembly.Location);
        }

        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException($"Could not start {Name}.");
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }

            if (onOutput is not null)
            {
                onOutput(Name, e.Data);
            }
            else
            {
                Console.Error.WriteLine($"[{Name}] {e.Data}"); // the roles' warnings and errors (console logger)
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                Console.Error.WriteLine($"[{Name}] {e.Data}");
            }
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;
        Starts++;
    }

    /// <summary>kill -9: no shutdown hooks, no graceful release of leases or unacked deliveries.</summary>
    public void Kill()
    {
        if (_process is { HasExited: false } process)
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
        }
    }

    public async Task WaitForExitAsync(CancellationToken cancellationToken)
    {
        if (_process is not null)
        {
            await _process.WaitForExitAsync(cancellationToken);
        }
    }

    public void Dispose()
    {
        Kill();
        _process?.Dispose();
    }
}
