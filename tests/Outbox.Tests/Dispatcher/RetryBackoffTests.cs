namespace Outbox.Tests.Dispatcher;

public sealed class RetryBackoffTests
{
    private static readonly TimeSpan Base = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan Max = TimeSpan.FromMinutes(5);

    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 2)]
    [InlineData(3, 4)]
    [InlineData(5, 16)]
    public void Compute_WithFullJitter_ReturnsTheNominalExponentialDelay(int failedAttempts, int expectedSeconds) =>
        Assert.Equal(TimeSpan.FromSeconds(expectedSeconds), RetryBackoff.Compute(failedAttempts, Base, Max, random: 1));

    [Theory]
    [InlineData(1, 0.5)]
    [InlineData(4, 4)]
    public void Compute_WithNoJitter_ReturnsHalfTheNominalDelay(int failedAttempts, double expectedSeconds) =>
        Assert.Equal(TimeSpan.FromSeconds(expectedSeconds), RetryBackoff.Compute(failedAttempts, Base, Max, random: 0));

    [Fact]
    public void Compute_ManyFailures_IsCappedAtTheMaximumWithoutOverflow()
    {
        Assert.Equal(Max, RetryBackoff.Compute(500, Base, Max, random: 1));
        Assert.Equal(Max / 2, RetryBackoff.Compute(int.MaxValue, Base, Max, random: 0));
    }

    [Fact]
    public void Compute_Jitter_StaysWithinTheUpperHalf()
    {
        var random = new Random(42);
        for (var i = 0; i < 1000; i++)
        {
            var delay = RetryBackoff.Compute(3, Base, Max, random.NextDouble());
            Assert.InRange(delay, TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(4));
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-3)]
    public void Compute_NoFailureYet_IsZero(int failedAttempts) =>
        Assert.Equal(TimeSpan.Zero, RetryBackoff.Compute(failedAttempts, Base, Max, random: 1));
}
