namespace Outbox.Benchmarks.Reporting;

/// <summary>Prints a progress line every interval until disposed (to stderr, so stdout stays the report).</summary>
public sealed class Progress : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    private Progress(TextWriter writer, TimeSpan interval, Func<string> line)
    {
        _loop = RunAsync(writer, interval, line, _stop.Token);
    }

    public static Progress Start(TextWriter writer, Func<string> line, TimeSpan? interval = null) =>
        new(writer, interval ?? TimeSpan.FromSeconds(1), line);

    private static async Task RunAsync(TextWriter writer, TimeSpan interval, Func<string> line, CancellationToken stop)
    {
        using var timer = new PeriodicTimer(interval);
        try
        {
            while (await timer.WaitForNextTickAsync(stop))
            {
                lock (writer)
                {
                    writer.WriteLine(line());
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Disposed.
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _loop;
        _stop.Dispose();
    }
}
