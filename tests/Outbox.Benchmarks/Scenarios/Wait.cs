namespace Outbox.Benchmarks.Scenarios;

internal static class Wait
{
    /// <summary>Polls <paramref name="condition"/> until it holds; a <see cref="TimeoutException"/> names what never happened.</summary>
    public static async Task UntilAsync(Func<Task<bool>> condition, TimeSpan poll, TimeSpan timeout, string what, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out after {timeout.TotalSeconds:0} s waiting until {what} (raise --timeout if the run is just slow).");
            }

            await Task.Delay(poll, cancellationToken);
        }
    }

    public static Task UntilAsync(Func<bool> condition, TimeSpan poll, TimeSpan timeout, string what, CancellationToken cancellationToken) =>
        UntilAsync(() => Task.FromResult(condition()), poll, timeout, what, cancellationToken);
}
