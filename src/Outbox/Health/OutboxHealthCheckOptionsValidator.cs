using Microsoft.Extensions.Options;

namespace Outbox;

/// <summary>Cross-property rules of <see cref="OutboxHealthCheckOptions"/>, and against the dispatcher's polling interval.</summary>
internal sealed class OutboxHealthCheckOptionsValidator(IOptions<OutboxDispatcherOptions> dispatcher) : IValidateOptions<OutboxHealthCheckOptions>
{
    private const string Section = OutboxHealthCheckOptions.SectionName;

    public ValidateOptionsResult Validate(string? name, OutboxHealthCheckOptions options)
    {
        var failures = new List<string>();
        if (options.PendingAgeDegraded > options.PendingAgeUnhealthy)
        {
            failures.Add(
                $"{Section}:{nameof(OutboxHealthCheckOptions.PendingAgeDegraded)} ({options.PendingAgeDegraded}) must not exceed " +
                $"{nameof(OutboxHealthCheckOptions.PendingAgeUnhealthy)} ({options.PendingAgeUnhealthy}).");
        }

        if (options.DispatcherDegradedAfter > options.DispatcherUnhealthyAfter)
        {
            failures.Add(
                $"{Section}:{nameof(OutboxHealthCheckOptions.DispatcherDegradedAfter)} ({options.DispatcherDegradedAfter}) must not exceed " +
                $"{nameof(OutboxHealthCheckOptions.DispatcherUnhealthyAfter)} ({options.DispatcherUnhealthyAfter}).");
        }

        if (options.DeadLettersDegraded > 0 && options.DeadLettersUnhealthy > 0 && options.DeadLettersDegraded > options.DeadLettersUnhealthy)
        {
            failures.Add(
                $"{Section}:{nameof(OutboxHealthCheckOptions.DeadLettersDegraded)} ({options.DeadLettersDegraded}) must not exceed " +
                $"{nameof(OutboxHealthCheckOptions.DeadLettersUnhealthy)} ({options.DeadLettersUnhealthy}).");
        }

        var polling = dispatcher.Value.PollingInterval;
        if (dispatcher.Value.Enabled && options.DispatcherDegradedAfter <= polling)
        {
            failures.Add(
                $"{Section}:{nameof(OutboxHealthCheckOptions.DispatcherDegradedAfter)} ({options.DispatcherDegradedAfter}) must be longer than " +
                $"{OutboxDispatcherOptions.SectionName}:{nameof(OutboxDispatcherOptions.PollingInterval)} ({polling}): an idle loop claims once per polling interval.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
