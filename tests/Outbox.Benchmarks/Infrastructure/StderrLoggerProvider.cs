using Microsoft.Extensions.Logging;

namespace Outbox.Benchmarks.Infrastructure;

/// <summary>
/// Writes warnings and errors of the dispatcher hosts to stderr, and counts them: a run whose dispatcher logged
/// errors (a failing claim, a lost connection) is not a clean measurement, and the report says so.
/// </summary>
public sealed class StderrLoggerProvider(TextWriter writer, string hostName) : ILoggerProvider
{
    private static long _warnings;
    private static long _errors;

    public static long Warnings => Interlocked.Read(ref _warnings);

    public static long Errors => Interlocked.Read(ref _errors);

    /// <summary>Starts counting afresh (a test may run several benchmarks in one process).</summary>
    public static void ResetCounters()
    {
        Interlocked.Exchange(ref _warnings, 0);
        Interlocked.Exchange(ref _errors, 0);
    }

    public ILogger CreateLogger(string categoryName) => new Logger(writer, hostName, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(TextWriter writer, string hostName, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
            {
                return;
            }

            Interlocked.Increment(ref logLevel >= LogLevel.Error ? ref _errors : ref _warnings);
            var text = $"[{hostName}] {logLevel} {category}[{eventId.Id}]: {formatter(state, exception)}";
            if (exception is not null)
            {
                text += $"{Environment.NewLine}    {exception.GetType().Name}: {exception.Message}";
            }

            lock (writer)
            {
                writer.WriteLine(text);
            }
        }
    }
}
