using Microsoft.Extensions.Options;

namespace Outbox.Kafka;

/// <summary>Topic names of a consumer, which data annotations cannot check.</summary>
internal sealed class KafkaConsumerOptionsValidator : IValidateOptions<KafkaConsumerOptions>
{
    public ValidateOptionsResult Validate(string? name, KafkaConsumerOptions options)
    {
        var section = $"{KafkaConsumerOptions.SectionName}:{name}";
        var failures = new List<string>();
        if (options.Topics.Count == 0)
        {
            failures.Add($"{section}:{nameof(KafkaConsumerOptions.Topics)} must name at least one topic.");
        }

        for (var i = 0; i < options.Topics.Count; i++)
        {
            if (KafkaTopicName.WhyInvalid(options.Topics[i]) is { } why)
            {
                failures.Add($"{section}:{nameof(KafkaConsumerOptions.Topics)}:{i} '{options.Topics[i]}' {why}");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
