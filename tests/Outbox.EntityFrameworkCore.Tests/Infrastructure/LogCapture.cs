using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Outbox.EntityFrameworkCore.Tests.Infrastructure;

/// <summary>Keeps every log entry of a host, so that a test can wait for a given event rather than for time to pass.</summary>
public sealed class LogCapture : ILoggerProvider
{
    private readonly ConcurrentQueue<(EventId Id, LogLevel Level, string Message)> _entries = new();
    private readonly ConcurrentDictionary<int, TaskCompletionSource<string>> _waiters = new();

    public IReadOnlyList<(EventId Id, LogLevel Level, string Message)> Entries => [.. _entries];

    /// <summary>Completes with the message of the first entry with <paramref name="eventId"/>, logged before or after the call.</summary>
    public Task<string> WaitForAsync(int eventId, TimeSpan timeout, CancellationToken cancellationToken) =>
        Waiter(eventId).Task.WaitAsync(timeout, cancellationToken);

    public bool Has(int eventId) => _entries.Any(e => e.Id.Id == eventId);

    public ILogger CreateLogger(string categoryName) => new Logger(this);

    public void Dispose()
    {
    }

    private TaskCompletionSource<string> Waiter(int eventId) =>
        _waiters.GetOrAdd(eventId, static _ => new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously));

    private sealed class Logger(LogCapture capture) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var message = formatter(state, exception);
            capture._entries.Enqueue((eventId, logLevel, message));
            capture.Waiter(eventId.Id).TrySetResult(message);
        }
    }
}
