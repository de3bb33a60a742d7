namespace Outbox.Kafka;

/// <summary>Kafka's rules for topic names: 1 to 249 characters of <c>[a-zA-Z0-9._-]</c>, not <c>.</c> or <c>..</c>.</summary>
internal static class KafkaTopicName
{
    public const int MaxLength = 249;

    /// <summary>Why <paramref name="topic"/> is not a legal topic name, or <see langword="null"/> when it is.</summary>
    public static string? WhyInvalid(string? topic)
    {
        if (string.IsNullOrEmpty(topic))
        {
            return "is empty: a topic name has 1 to 249 characters.";
        }

        if (topic.Length > MaxLength)
        {
            return $"has {topic.Length} characters, more than Kafka's {MaxLength}.";
        }

        if (topic is "." or "..")
        {
            return "is not allowed as a topic name.";
        }

        foreach (var c in topic)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-'))
            {
                return $"contains '{c}': a topic name may only contain ASCII letters, digits, '.', '_' and '-'.";
            }
        }

        return null;
    }
}
