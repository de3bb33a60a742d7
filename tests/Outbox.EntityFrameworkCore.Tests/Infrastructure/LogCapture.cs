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

    /// <summary>
    /// Completes with the first of <paramref name="eventIds"/> to be logged and its message; on timeout fails with every
    /// entry captured so far, so that a failure shows what the host did instead.
    /// </summary>
    public async Task<(int EventId, string Message)> WaitForAnyAsync(IReadOnlyList<int> eventIds, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var waits = eventIds.Select(id => Waiter(id).Task).ToArray();
        try
        {
            var first = await Task.WhenAny(waits).WaitAsync(timeout, cancellationToken);
            return (eventIds[Array.IndexOf(waits, first)], await first);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException(
                $"None of the events {string.Join(", ", eventIds)} was logged within {timeout}. Logged meanwhile:{Environment.NewLine}{Describe()}");
        }
    }

    public bool Has(int eventId) => _entries.Any(e => e.Id.Id == eventId);

    /// <summary>How many entries with <paramref name="eventId"/> were logged so far.</summary>
    public int Count(int eventId) => _entries.Count(e => e.Id.Id == eventId);

    /// <summary>
    /// Waits until <paramref name="eventId"/> has been logged at least <paramref name="count"/> times; on timeout fails
    /// with every entry captured so far.
    /// </summary>
    public async Task WaitForCountAsync(int eventId, int count, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (Count(eventId) < count)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException(
                    $"Event {eventId} was logged {Count(eventId)} times within {timeout}, not {count}. Logged meanwhile:{Environment.NewLine}{Describe()}");
            }

            await Task.Delay(20, cancellationToken);
        }
    }

    /// <summary>Every entry so far, one per line, for a failure message.</summary>
    public string Describe() =>
        string.Join(Environment.NewLine, _entries.Select(e => $"  [{e.Level}] {e.Id.Id}: {e.Message}"));

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
