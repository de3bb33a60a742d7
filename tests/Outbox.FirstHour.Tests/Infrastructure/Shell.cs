using System.Diagnostics;
using System.Text;

namespace Outbox.FirstHour.Tests.Infrastructure;

/// <summary>Runs the commands a user would type, in a folder, capturing what they print.</summary>
internal static class Shell
{
    /// <summary>
    /// The CLI's home for the commands (<c>DOTNET_CLI_HOME</c>): the folder of this test run, so that the local tool
    /// resolver's cache does not point a later run at a package folder this run deletes.
    /// </summary>
    public static string? CliHome { get; set; }

    /// <summary>Runs a command to its end; fails the test with its output when it exits with an error.</summary>
    public static async Task<string> RunAsync(string workingDirectory, string fileName, IEnumerable<string> arguments, TimeSpan timeout)
    {
        using var process = Start(workingDirectory, fileName, arguments, out var output);
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cancel.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None);
            Assert.Fail($"`{CommandLine(fileName, arguments)}` (in {workingDirectory}) did not finish within {timeout.TotalMinutes:0} minutes:\n{output.Text}");
        }

        // The output pipes close after the exit; wait for the last lines.
        process.WaitForExit();
        var text = output.Text;
        Assert.True(process.ExitCode == 0, $"`{CommandLine(fileName, arguments)}` (in {workingDirectory}) exited with {process.ExitCode}:\n{text}");
        return text;
    }

    /// <summary>Starts a long-running command (the application); the caller kills it.</summary>
    public static Process Start(string workingDirectory, string fileName, IEnumerable<string> arguments, out Output output)
    {
        var start = new ProcessStartInfo(fileName)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        // No build server or node may outlive a command while holding its output pipes open; no first-run banners.
        start.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        start.Environment["DOTNET_CLI_USE_MSBUILD_SERVER"] = "0";
        start.Environment["UseSharedCompilation"] = "false";
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1";
        if (CliHome is not null)
        {
            start.Environment["DOTNET_CLI_HOME"] = CliHome;
        }

        // A new user's shell has none of the variables the test runner's build set for this test process.
        foreach (var name in new[] { "MSBuildExtensionsPath", "MSBuildSDKsPath", "MSBUILD_EXE_PATH", "MSBuildLoadMicrosoftTargetsReadOnly" })
        {
            start.Environment.Remove(name);
        }

        var captured = new Output();
        var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => captured.Append(e.Data);
        process.ErrorDataReceived += (_, e) => captured.Append(e.Data);
        process.Start();
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        output = captured;
        return process;
    }

    public static string CommandLine(string fileName, IEnumerable<string> arguments) => string.Join(' ', [fileName, .. arguments]);

    /// <summary>What a process printed so far, stdout and stderr interleaved.</summary>
    public sealed class Output
    {
        private readonly StringBuilder _text = new();

        public string Text
        {
            get
            {
                lock (_text)
                {
                    return _text.ToString();
                }
            }
        }

        public void Append(string? line)
        {
            if (line is null)
            {
                return;
            }

            lock (_text)
            {
                _text.AppendLine(line);
            }
        }
    }
}
