namespace Outbox;

/// <summary>
/// The life of a broker consumer (RabbitMQ, ActiveMQ): run a session (connect, subscribe, consume) until it ends, then
/// open the next one after <c>reconnectInterval</c>; after a failure wait a backoff that grows from 200 ms up to
/// eight reconnect intervals and resets with the next session that ends normally. Returns when the host stops.
/// </summary>
internal static class ConsumerSessionLoop
{
    private static readonly TimeSpan ErrorBaseDelay = TimeSpan.FromMilliseconds(200);

    /// <summary>Runs sessions until <paramref name="stopping"/> is cancelled.</summary>
    /// <param name="runSession">One session; returns why it ended.</param>
    /// <param name="ended">Told why a session ended normally (before the reconnect pause).</param>
    /// <param name="failed">Told of a session's failure and the pause before the next one.</param>
    /// <param name="reconnectInterval">The pause after a session that ended normally.</param>
    /// <param name="time">The clock of the pauses.</param>
    /// <param name="stopping">The host's stopping token.</param>
    public static async Task RunAsync(
        Func<CancellationToken, Task<string>> runSession,
        Action<string> ended,
        Action<Exception, TimeSpan> failed,
        TimeSpan reconnectInterval,
        TimeProvider time,
        CancellationToken stopping)
    {
        await Task.Yield();
        var failures = 0;
        while (!stopping.IsCancellationRequested)
        {
            TimeSpan pause;
            try
            {
                var reason = await runSession(stopping).ConfigureAwait(false);
                if (stopping.IsCancellationRequested)
                {
                    break;
                }

                failures = 0;
                pause = reconnectInterval;
                ended(reason);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                failures++;
                pause = RetryBackoff.Compute(
                    failures, ErrorBaseDelay, TimeSpan.FromTicks(Math.Max(reconnectInterval.Ticks * 8, ErrorBaseDelay.Ticks)), Random.Shared.NextDouble());
                failed(ex, pause);
            }

            try
            {
                await Task.Delay(pause, time, stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }
}
