using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;
using Polly.Timeout;

namespace Outbox;

/// <summary>
/// The Polly pipeline around every transport send. The dispatcher builds one pipeline per destination (Polly's keyed
/// <see cref="Polly.Registry.ResiliencePipelineRegistry{TKey}"/>, keyed by <see cref="OutboxMessage.Destination"/>), so
/// each destination has a circuit breaker of its own. The default is: a total timeout of
/// <see cref="OutboxDispatcherOptions.SendTimeout"/>, then a quick in-process retry of endpoint failures (2 retries,
/// exponential from 50 ms, with jitter), then a circuit breaker (opens for 5 s when half the sends of 30 s, at least
/// 20, failed) that counts endpoint failures only.
/// </summary>
/// <remarks>
/// Failures are classified where they happen. A <see cref="MessageRejectedException"/> (the transport's way of saying
/// "the endpoint answered, but refused this message") is a failure of the message: it is neither retried here nor
/// counted by the breaker; the dispatcher spends an attempt of the message and backs it off, or dead-letters it at once
/// when <see cref="MessageRejectedException.IsPermanent"/>. Every other exception (connection refused, a timeout, a 5xx,
/// the broker down) is a failure of the endpoint (<see cref="IsEndpointFailure"/>). Persistent failures are not
/// retried here: the dispatcher stores them and retries with its own backoff.
/// </remarks>
public static class OutboxResilience
{
    /// <summary>The name of the resilience pipelines, as telemetry reports them (the instance name is the destination).</summary>
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
                ShouldHandle = args => new ValueTask<bool>(IsEndpointFailure(args.Outcome.Exception)),
            });
    }

    /// <summary>
    /// Whether an exception from a send says the endpoint is failing (connection refused, a timeout, a 5xx, the broker
    /// down), so that it counts towards the destination's circuit breaker: any exception but a
    /// <see cref="MessageRejectedException"/> (a failure of that one message) and an open circuit (not a new failure).
    /// A cancelled send counts: inside the pipeline that is the send timeout, an endpoint that does not answer.
    /// </summary>
    public static bool IsEndpointFailure(Exception? exception) => exception switch
    {
        null => false,
        MessageRejectedException => false,
        BrokenCircuitException => false,
        _ => true,
    };

    /// <summary>
    /// Whether an exception from a send is worth an immediate retry: an endpoint failure (<see cref="IsEndpointFailure"/>)
    /// that is not the cancellation of the send itself. A refused message is never retried at once: the same message
    /// would be refused again.
    /// </summary>
    public static bool IsTransient(Exception? exception, CancellationToken sendToken) => exception switch
    {
        OperationCanceledException when sendToken.IsCancellationRequested => false,
        _ => IsEndpointFailure(exception),
    };
}
