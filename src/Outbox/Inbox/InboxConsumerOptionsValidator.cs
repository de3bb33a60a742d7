using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Outbox;

/// <summary>
/// Fails start-up when a consumer is misconfigured: retry delays the wrong way round, no handler, no inbox store.
/// </summary>
internal sealed class InboxConsumerOptionsValidator(IServiceProvider services) : IValidateOptions<InboxConsumerOptions>
{
    public ValidateOptionsResult Validate(string? name, InboxConsumerOptions options)
    {
        if (name is null || services.GetKeyedService<InboxHandlerRegistry>(name) is not { } registry)
        {
            // Not a registered consumer name: nothing to say about it.
            return ValidateOptionsResult.Skip;
        }

        var failures = new List<string>();
        var section = $"{InboxConsumerOptions.SectionName}:{name}";
        if (options.RetryBaseDelay > options.RetryMaxDelay)
        {
            failures.Add(
                $"{section}:{nameof(InboxConsumerOptions.RetryBaseDelay)} ({options.RetryBaseDelay}) must not exceed " +
                $"{nameof(InboxConsumerOptions.RetryMaxDelay)} ({options.RetryMaxDelay}).");
        }

        if (options.ShouldRetry is null)
        {
            failures.Add($"{section}:{nameof(InboxConsumerOptions.ShouldRetry)} must not be null.");
        }

        if (registry.Count == 0)
        {
            failures.Add($"Consumer '{name}' has no message handler: call AddHandler<TMessage, THandler>() on its builder.");
        }

        if (services.GetService<IServiceProviderIsKeyedService>() is { } isKeyed && !isKeyed.IsKeyedService(typeof(IInboxProcessor), name))
        {
            failures.Add($"Consumer '{name}' has no inbox store: register it with AddOutboxConsumer<TContext>(\"{name}\", ...) from Outbox.EntityFrameworkCore.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
