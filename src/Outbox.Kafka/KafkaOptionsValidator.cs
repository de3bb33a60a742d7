using Microsoft.Extensions.Options;

namespace Outbox.Kafka;

/// <summary>Rules data annotations cannot express: bootstrap servers, topic names, and settings that may not be weakened.</summary>
internal sealed class KafkaOptionsValidator : IValidateOptions<KafkaOptions>
{
    internal static readonly string[] ProtectedProperties =
    [
        "enable.idempotence", "acks", "request.required.acks", "enable.auto.commit", "enable.auto.offset.store", "bootstrap.servers",
    ];

    public ValidateOptionsResult Validate(string? name, KafkaOptions options)
    {
        const string Section = KafkaOptions.SectionName;
        var failures = new List<string>();
        if (!string.IsNullOrWhiteSpace(options.BootstrapServers) && !AreEndpoints(options.BootstrapServers))
        {
            failures.Add($"{Section}:{nameof(KafkaOptions.BootstrapServers)} '{options.BootstrapServers}' must be host:port pairs separated by commas.");
        }

        foreach (var (destination, topic) in options.Topics)
        {
            if (KafkaTopicName.WhyInvalid(topic) is { } why)
            {
                failures.Add($"{Section}:{nameof(KafkaOptions.Topics)}:{destination} '{topic}' {why}");
            }
        }

        foreach (var key in options.Properties.Keys)
        {
            if (ProtectedProperties.Contains(key, StringComparer.Ordinal))
            {
                failures.Add($"{Section}:{nameof(KafkaOptions.Properties)}:{key} cannot be set: the outbox sets it (use {nameof(KafkaOptions.BootstrapServers)} for the brokers).");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    internal static bool AreEndpoints(string servers) => servers.Split(',', StringSplitOptions.TrimEntries).All(static endpoint =>
    {
        var withoutScheme = endpoint.Contains("://", StringComparison.Ordinal) ? endpoint[(endpoint.IndexOf("://", StringComparison.Ordinal) + 3)..] : endpoint;
        var colon = withoutScheme.LastIndexOf(':');
        return colon > 0 && int.TryParse(withoutScheme.AsSpan(colon + 1), out var port) && port is > 0 and < 65536;
    });
}
