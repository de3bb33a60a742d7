namespace Outbox;

/// <summary>Exponential backoff with jitter, used for message retries and for the loop's own error pauses.</summary>
internal static class RetryBackoff
{
    /// <summary>
    /// The delay before attempt <paramref name="failedAttempts"/> + 1: <c>baseDelay * 2^(failedAttempts - 1)</c> capped at
    /// <paramref name="maxDelay"/>, then drawn uniformly from its upper half ("equal jitter") so that retries of a
    /// failed batch spread out but never come sooner than half the nominal delay.
    /// </summary>
    public static TimeSpan Compute(int failedAttempts, TimeSpan baseDelay, TimeSpan maxDelay, double random)
    {
        if (failedAttempts < 1 || baseDelay <= TimeSpan.Zero)
        {
            return TimeSpan.Zero;
        }

        var exponent = Math.Min(failedAttempts - 1, 62);
        var nominalTicks = baseDelay.Ticks * Math.Pow(2, exponent);
        var cappedTicks = Math.Min(nominalTicks, maxDelay.Ticks);
        var jittered = (cappedTicks / 2) + (cappedTicks / 2 * Math.Clamp(random, 0, 1));
        return TimeSpan.FromTicks((long)jittered);
    }
}
