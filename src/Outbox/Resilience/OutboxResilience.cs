using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;
using Polly.Timeout;

namespace Outbox;

/// <summary>
/// The Polly pipeline around every transport send. The default is: a total timeout of
/// <see cref="OutboxDispatcherOptions.SendTimeout"/>, then a quick in-process retry (2 retries, exponential from
/// 50 ms, with jitter), then a circuit breaker (opens for 5 s when half the sends of 30 s, at least 20, failed).
/// Persistent failures are not retried here: the dispatcher stores them and retries with its own backoff.
/// </summary>
public static class OutboxResilience
{
    /// <summary>The name of the resilience pipeline, as telemetry reports it.</summary>
    public const string PipelineName = "Outbox.Transport";

    /// <summary>Adds the default strategies to <paramref name="builder"/>.</summary>
    public static ResiliencePipelineBuilder AddOutboxDefaults(this ResiliencePipelineBuilder builder, OutboxDispatcherOptions options)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(options);
        return builder
            .AddTimeout(new TimeoutStrategyOptions { Timeout = options.SendTimeout })
            .AddRetry(new RetryStrategyOptions
            {
                MaxRetryAttempts = 2,
                Delay = TimeSpan.FromMilliseconds(50),
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                ShouldHandle = args => new ValueTask<bool>(IsTransient(args.Outcome.Exception, args.Context.CancellationToken)),
            })
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions
            {
                FailureRatio = 0.5,
                MinimumThroughput = 20,
                SamplingDuration = TimeSpan.FromSeconds(30),
                BreakDuration = TimeSpan.FromSeconds(5),
                ShouldHandle = args => new ValueTask<bool>(args.Outcome.Exception is not null and not PermanentDeliveryException and not OperationCanceledException),
            });
    }

    /// <summary>
    /// Whether an exception from a send is worth an immediate retry: not a permanent rejection, not an open circuit,
    /// not a cancellation of the send itself.
    /// </summary>
    public static bool IsTransient(Exception? exception, CancellationToken sendToken) => exception switch
    {
        null => false,
        PermanentDeliveryException => false,
        BrokenCircuitException => false,
        OperationCanceledException when sendToken.IsCancellationRequested => false,
        _ => true,
    };
}
