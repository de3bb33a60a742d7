using Microsoft.Extensions.Options;

namespace Outbox;

/// <summary>Cross-property rules that data annotations cannot express.</summary>
internal sealed class OutboxDispatcherOptionsValidator : IValidateOptions<OutboxDispatcherOptions>
{
    public ValidateOptionsResult Validate(string? name, OutboxDispatcherOptions options)
    {
        var failures = new List<string>();
        if (options.SendTimeout >= options.LeaseDuration)
        {
            failures.Add(
                $"{OutboxDispatcherOptions.SectionName}:{nameof(OutboxDispatcherOptions.SendTimeout)} ({options.SendTimeout}) must be shorter than " +
                $"{nameof(OutboxDispatcherOptions.LeaseDuration)} ({options.LeaseDuration}), or a slow send could outlive its lease and be sent twice.");
        }

        if (options.RetryBaseDelay > options.RetryMaxDelay)
        {
            failures.Add(
                $"{OutboxDispatcherOptions.SectionName}:{nameof(OutboxDispatcherOptions.RetryBaseDelay)} ({options.RetryBaseDelay}) must not exceed " +
                $"{nameof(OutboxDispatcherOptions.RetryMaxDelay)} ({options.RetryMaxDelay}).");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
