using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Outbox.Docs.Tests;

/// <summary>
/// Follows the README the way a new user would: takes the first command it gives (the demo), runs it as written plus
/// <c>--short</c>, and checks the report says every order was paid or failed exactly once and that a forged, unsigned
/// POST to the payment service's inbox was refused with 401.
/// </summary>
public sealed partial class ReadmeTests
{
    [Fact]
    public void Readme_StartsWithTheDemoAndTheTestCommands()
    {
        var commands = Commands();
        Assert.True(commands.Count >= 2, "The README's first code block should hold the two commands.");
        Assert.StartsWith("dotnet run --project samples/Demo", commands[0], StringComparison.Ordinal);
        Assert.Equal("./test.sh", commands[1]);
    }

    [Fact]
    public async Task Readme_DemoCommand_EveryOrderPaidOrFailedExactlyOnce()
    {
        var command = Commands()[0];
        var arguments = command.Split(' ', StringSplitOptions.RemoveEmptyEntries).ToList();
        Assert.Equal("dotnet", arguments[0]);
        arguments.RemoveAt(0);

        // As written, in this build's configuration (so the build is the one the test run already made), in short mode.
        var separator = arguments.IndexOf("--");
        arguments.Insert(separator < 0 ? arguments.Count : separator, "-c");
        arguments.Insert(separator < 0 ? arguments.Count : separator + 1, Repository.Configuration);
        if (separator < 0)
        {
            arguments.Add("--");
        }

        arguments.Add("--short");

        var output = new StringBuilder();
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = Repository.Root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        // No build server or node may outlive the command while holding its output pipes open.
        start.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        start.Environment["DOTNET_CLI_USE_MSBUILD_SERVER"] = "0";
        start.Environment["UseSharedCompilation"] = "false";
        start.Environment["DOTNET_NOLOGO"] = "1";

        using var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => Append(output, e.Data);
        process.ErrorDataReceived += (_, e) => Append(output, e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromMinutes(6));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None);
            Assert.Fail($"`dotnet {string.Join(' ', arguments)}` did not finish in 6 minutes:\n{output}");
        }

        var text = output.ToString();
        TestContext.Current.SendDiagnosticMessage(text);
        Assert.True(process.ExitCode == 0, $"`dotnet {string.Join(' ', arguments)}` exited with {process.ExitCode}:\n{text}");
        Assert.Contains("RESULT: OK - every order was paid or failed exactly once", text, StringComparison.Ordinal);

        var placed = Number(text, "orders placed");
        Assert.Equal(30, placed);
        Assert.Equal(placed, Number(text, "paid") + Number(text, @"failed \(over the card limit\)"));
        Assert.Equal(0, Number(text, "pending"));
        Assert.Equal(placed, Number(text, "payments written"));
        Assert.DoesNotContain("[FAILED]", text, StringComparison.Ordinal);
        Assert.Contains("[ok] a forged, unsigned POST to the payments inbox was refused (401) and wrote nothing", text, StringComparison.Ordinal);
    }

    /// <summary>The commands of the README's first fenced block, without comments.</summary>
    private static List<string> Commands()
    {
        var readme = File.ReadAllText(Repository.PathOf("README.md"));
        var block = FirstBlock().Match(readme);
        Assert.True(block.Success, "The README has no fenced code block.");
        return block.Groups["body"].Value.Split('\n')
            .Select(line => (line.Contains('#', StringComparison.Ordinal) ? line[..line.IndexOf('#', StringComparison.Ordinal)] : line).Trim())
            .Where(line => line.Length > 0)
            .ToList();
    }

    private static int Number(string report, string label)
    {
        var match = Regex.Match(report, $@"^\s*{label}\s+(\d+)", RegexOptions.Multiline);
        Assert.True(match.Success, $"The report has no '{label}' line:\n{report}");
        return int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
    }

    private static void Append(StringBuilder output, string? line)
    {
        if (line is not null)
        {
            lock (output)
            {
                output.AppendLine(line);
            }
        }
    }

    [GeneratedRegex("```[a-z]*\\n(?<body>.*?)```", RegexOptions.Singleline)]
    private static partial Regex FirstBlock();
}
