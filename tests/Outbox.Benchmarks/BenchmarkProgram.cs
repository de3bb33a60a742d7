using System.Diagnostics;
using System.Runtime.InteropServices;
using Outbox.Benchmarks.Infrastructure;
using Outbox.Benchmarks.Options;
using Outbox.Benchmarks.Reporting;
using Outbox.Benchmarks.Scenarios;

namespace Outbox.Benchmarks;

/// <summary>
/// The benchmark console as a library method, so that a test can run a scenario with a small N:
/// prints the command line, runs the scenario, prints a table and, as the LAST line of <c>stdout</c>, one JSON object.
/// Progress and dispatcher warnings go to stderr. Exit code: 0 ok, 1 the run failed, 2 a bad command line.
/// </summary>
public static class BenchmarkProgram
{
    public static Task<int> RunAsync(string[] args, TextWriter stdout) => RunAsync(args, stdout, Console.Error, CancellationToken.None);

    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);

        BenchOptions options;
        Func<BenchContext, BenchDatabase, Report, Task> scenario;
        try
        {
            options = BenchOptions.Parse(args);
            if (options.Help)
            {
                await stdout.WriteLineAsync(BenchOptions.Usage);
                return 0;
            }

            scenario = ScenarioCatalog.Find(options.Scenario);
        }
        catch (BenchOptionsException ex)
        {
            await stderr.WriteLineAsync($"error: {ex.Message}");
            await stderr.WriteLineAsync("Run with --help for usage.");
            return 2;
        }

        StderrLoggerProvider.ResetCounters();
        CpuSample.Server = null;
        var commandLine = "dotnet run -c Release --project tests/Outbox.Benchmarks -- " + string.Join(' ', args.Select(Quote));
        await stdout.WriteLineAsync($"# {commandLine}");
        await stdout.WriteLineAsync(
            $"# {Build}, .NET {Environment.Version}, {RuntimeInformation.OSDescription}, {Environment.ProcessorCount} cores, " +
            $"GC {(System.Runtime.GCSettings.IsServerGC ? "server" : "workstation")}");
        if (Build != "Release")
        {
            await stdout.WriteLineAsync("# WARNING: not a Release build; the figures are not representative.");
        }

        var report = new Report()
            .Set("scenario", options.Scenario)
            .Set("provider", options.Provider == BenchProvider.Postgres ? "postgres" : "sqlite")
            .Set("keys", options.Keys.ToString())
            .Set("pg_fillfactor", options.PostgresFillFactor)
            .Set("connection_options", options.ConnectionOptions)
            .Set("pg_synchronous_commit", options.PgSynchronousCommit)
            .Set("load_avg_1m_start", CpuSample.LoadAverage());
        if (CpuSample.LoadAverage() is > 0.5 and var load)
        {
            await stderr.WriteLineAsync($"Note: the machine is busy before the run (1-minute load average {load}); the figures may be disturbed.");
        }
        var context = new BenchContext(options, stdout, stderr, cancellationToken);
        var started = Stopwatch.GetTimestamp();
        try
        {
            await using var database = await BenchDatabase.OpenAsync(options, stderr, cancellationToken);
            var version = await database.ServerVersionAsync(cancellationToken);
            report.Set("database_source", database.Source).Set("server_version", version);
            await stdout.WriteLineAsync($"# {database.ProviderName} {version} ({database.Source})");
            await scenario(context, database, report);
        }
        catch (BenchOptionsException ex)
        {
            await stderr.WriteLineAsync($"error: {ex.Message}");
            return 2;
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            await stderr.WriteLineAsync(ex.ToString());
            report.Fail($"{ex.GetType().Name}: {ex.Message}");
        }

        report.Set("dispatcher_warnings", StderrLoggerProvider.Warnings)
            .Set("dispatcher_errors", StderrLoggerProvider.Errors)
            .Set("peak_rss_mb", PeakMemory.Megabytes())
            .Set("total_s", Stopwatch.GetElapsedTime(started).TotalSeconds)
            .Set("build", Build)
            .Set("cores", Environment.ProcessorCount)
            .Set("command_line", commandLine);
        if (StderrLoggerProvider.Errors > 0)
        {
            report.AddNote($"Note: the dispatcher logged {StderrLoggerProvider.Errors} error(s) (see stderr); the figures may not be clean.");
        }

        report.WriteTable(stdout);
        report.WriteJson(stdout);
        return report.Failed ? 1 : 0;
    }

#if DEBUG
    private static readonly string Build = "Debug";
#else
    private static readonly string Build = "Release";
#endif

    private static string Quote(string arg) =>
        arg.Length > 0 && arg.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '=' or '/' or ':' or ',')
            ? arg
            : "'" + arg.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
