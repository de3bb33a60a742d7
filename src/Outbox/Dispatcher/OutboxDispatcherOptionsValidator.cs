using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Outbox;

/// <summary>
/// The data annotations of <see cref="OutboxDispatcherOptions"/> and the cross-property rules they cannot express,
/// each failure naming its configuration key (<c>Outbox:Dispatcher:BatchSize</c>, or
/// <c>Outbox:Outboxes:{name}:Dispatcher:BatchSize</c> for a named outbox).
/// </summary>
internal sealed class OutboxDispatcherOptionsValidator : IValidateOptions<OutboxDispatcherOptions>
{
    public ValidateOptionsResult Validate(string? name, OutboxDispatcherOptions options)
    {
        var section = OutboxInstance.DispatcherSectionOf(name);
        var failures = new List<string>();
        var results = new List<ValidationResult>();
        if (!Validator.TryValidateObject(options, new ValidationContext(options), results, validateAllProperties: true))
        {
            foreach (var result in results)
            {
                var member = result.MemberNames.FirstOrDefault() ?? nameof(OutboxDispatcherOptions);
                failures.Add($"{section}:{member}: {result.ErrorMessage}");
            }
        }

        if (options.SendTimeout >= options.LeaseDuration)
        {
            failures.Add(
                $"{section}:{nameof(OutboxDispatcherOptions.SendTimeout)} ({options.SendTimeout}) must be shorter than " +
                $"{nameof(OutboxDispatcherOptions.LeaseDuration)} ({options.LeaseDuration}), or a slow send could outlive its lease and be sent twice.");
        }

        if (options.RetryBaseDelay > options.RetryMaxDelay)
        {
            failures.Add(
                $"{section}:{nameof(OutboxDispatcherOptions.RetryBaseDelay)} ({options.RetryBaseDelay}) must not exceed " +
                $"{nameof(OutboxDispatcherOptions.RetryMaxDelay)} ({options.RetryMaxDelay}).");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
