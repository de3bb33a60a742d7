using Microsoft.Extensions.Options;

namespace Outbox.ActiveMQ;

/// <summary>Rules data annotations cannot express: the URI scheme and the functions.</summary>
internal sealed class ActiveMqOptionsValidator : IValidateOptions<ActiveMqOptions>
{
    public ValidateOptionsResult Validate(string? name, ActiveMqOptions options)
    {
        const string Section = ActiveMqOptions.SectionName;
        var failures = new List<string>();
        if (options.Uri is { } uri && (!uri.IsAbsoluteUri || uri.Scheme is not ("stomp" or "stomp+ssl") || string.IsNullOrEmpty(uri.Host)))
        {
            failures.Add($"{Section}:{nameof(ActiveMqOptions.Uri)} must be an absolute stomp:// or stomp+ssl:// URI with a host.");
        }

        if (options.DestinationFor is null)
        {
            failures.Add($"{Section}:{nameof(ActiveMqOptions.DestinationFor)} must not be null.");
        }

        if (options.MaxMessageSize + 64 * 1024 > options.MaxFrameSize)
        {
            failures.Add($"{Section}:{nameof(ActiveMqOptions.MaxFrameSize)} ({options.MaxFrameSize}) must exceed {nameof(ActiveMqOptions.MaxMessageSize)} ({options.MaxMessageSize}) by at least 64 KiB for the headers.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

/// <summary>Rules of <see cref="ActiveMqConsumerOptions"/> data annotations cannot express.</summary>
internal sealed class ActiveMqConsumerOptionsValidator : IValidateOptions<ActiveMqConsumerOptions>
{
    public ValidateOptionsResult Validate(string? name, ActiveMqConsumerOptions options)
    {
        var destination = options.Destination;
        if (string.IsNullOrWhiteSpace(destination) || destination is ActiveMqDestinations.QueuePrefix or ActiveMqDestinations.TopicPrefix)
        {
            return ValidateOptionsResult.Fail(
                $"{ActiveMqConsumerOptions.SectionName}:{name}:{nameof(ActiveMqConsumerOptions.Destination)} must name a queue (a name, or /queue/name) or a topic (/topic/name).");
        }

        return ValidateOptionsResult.Success;
    }
}
