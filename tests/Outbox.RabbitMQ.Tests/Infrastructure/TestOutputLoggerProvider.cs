using Microsoft.Extensions.Logging;

namespace Outbox.RabbitMQ.Tests.Infrastructure;

/// <summary>Writes the host's warnings and errors into the current test's output, to explain a failure.</summary>
public sealed class TestOutputLoggerProvider : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => new Logger(categoryName[(categoryName.LastIndexOf('.') + 1)..]);

    public void Dispose()
    {
    }

    private sealed class Logger(string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            try
            {
                TestContext.Current.TestOutputHelper?.WriteLine(
                    $"{DateTime.UtcNow:HH:mm:ss.fff} {logLevel} {category}[{eventId.Id}] {formatter(state, exception)}" +
                    (exception is null ? "" : $" ({exception.GetType().Name}: {exception.Message})"));
            }
            catch (InvalidOperationException)
            {
                // Logged after the test ended.
            }
        }
    }
}
