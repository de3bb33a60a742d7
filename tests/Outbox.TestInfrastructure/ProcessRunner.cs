using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Outbox.TestInfrastructure;

/// <summary>The outcome of a finished child process: its exit code and its stdout and stderr together.</summary>
internal sealed record ProcessResult(string CommandLine, int ExitCode, string Output)
{
    public ProcessResult EnsureSuccess() =>
        ExitCode == 0
            ? this
            : throw new InvalidOperationException($"'{CommandLine}' exited with code {ExitCode}: {Output.Trim()}");
}

/// <summary>Runs the command-line tools that start and stop the local servers.</summary>
internal static class ProcessRunner
{
    /// <summary>PostgreSQL refuses to run as root, so as root its tools run as this OS user.</summary>
    public const string PostgresUser = "postgres";

    public static bool IsRoot => Environment.UserName == "root";

    /// <summary>A TCP port free on the loopback interface right now (the OS picks it).</summary>
    public static int PickFreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>
    /// Starts a watchdog in its own session: <c>bash -c script name pid arguments...</c>, where pid is this process's id
    /// ($1 in the script), so that the script can clean up after this process when it has gone without doing it.
    /// Its pipes are redirected so that it does not hold this process's stdout open after it ends.
    /// </summary>
    public static Process? StartWatchdog(string script, string name, IEnumerable<string> arguments)
    {
        var startInfo = new ProcessStartInfo("setsid")
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Path.GetTempPath(),
        };
        foreach (var argument in (string[])["bash", "-c", script, name, Environment.ProcessId.ToString(CultureInfo.InvariantCulture), .. arguments])
        {
            startInfo.ArgumentList.Add(argument);
        }

        return Process.Start(startInfo);
    }

    /// <summary>
    /// Runs a command to its end and captures its output. Stdin is closed; on timeout or cancellation the
    /// process tree is killed. Commands that leave a daemon behind must detach it from our pipes
    /// (pg_ctl -l and rabbitmq-server -detached both do), or reading to the end would wait for the daemon.
    /// </summary>
    public static async Task<ProcessResult> RunAsync(
        string fileName,
        IEnumerable<string> arguments,
        TimeSpan timeout,
        CancellationToken cancellationToken,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var startInfo = new ProcessStartInfo(fileName)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,

            // The tools run as another user when we are root: start them where that user may read.
            WorkingDirectory = Path.GetTempPath(),
        };
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            startInfo.Environment[name] = value;
        }

        var commandLine = string.Join(' ', [fileName, .. startInfo.ArgumentList]);
        using var process = Process.Start(startInfo)
            ?? throw new InvalidOperationException($"Could not start '{commandLine}'.");
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        var stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);

        using var timeoutSource = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeoutSource.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(timeoutSource.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            cancellationToken.ThrowIfCancellationRequested();
            throw new TimeoutException($"'{commandLine}' did not finish within {timeout.TotalSeconds:0} s.");
        }

        return new ProcessResult(commandLine, process.ExitCode, (await stdout) + (await stderr));
    }

    /// <summary>Runs a PostgreSQL tool, as the <c>postgres</c> OS user when we are root.</summary>
    public static Task<ProcessResult> RunPostgresToolAsync(
        string tool,
        IEnumerable<string> arguments,
        TimeSpan timeout,
        CancellationToken cancellationToken) =>
        RunAsync(
            IsRoot ? "runuser" : tool,
            IsRoot ? ["-u", PostgresUser, "--", tool, .. arguments] : arguments,
            timeout,
            cancellationToken);

    /// <summary>Finds an executable by name on PATH, or returns null.</summary>
    public static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty)
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(directory => Path.Combine(directory, name))
            .FirstOrDefault(File.Exists);
}
