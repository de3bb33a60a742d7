using System.Text;
using Microsoft.Extensions.Options;

namespace Outbox.RabbitMQ;

/// <summary>Rules data annotations cannot express: the URI scheme and the declared topology.</summary>
internal sealed class RabbitMqOptionsValidator : IValidateOptions<RabbitMqOptions>
{
    private static readonly string[] ExchangeTypes = ["direct", "topic", "fanout", "headers"];

    public ValidateOptionsResult Validate(string? name, RabbitMqOptions options)
    {
        const string Section = RabbitMqOptions.SectionName;
        var failures = new List<string>();
        if (options.Uri is { } uri && (!uri.IsAbsoluteUri || uri.Scheme is not ("amqp" or "amqps")))
        {
            failures.Add($"{Section}:{nameof(RabbitMqOptions.Uri)} must be an absolute amqp:// or amqps:// URI.");
        }

        if (options.ExchangeFor is null || options.RoutingKeyFor is null)
        {
            failures.Add($"{Section}: {nameof(RabbitMqOptions.ExchangeFor)} and {nameof(RabbitMqOptions.RoutingKeyFor)} must not be null.");
        }

        for (var i = 0; i < options.Exchanges.Count; i++)
        {
            var exchange = options.Exchanges[i];
            var path = $"{Section}:{nameof(RabbitMqOptions.Exchanges)}:{i}";
            CheckName(exchange.Name, $"{path}:{nameof(RabbitMqExchangeDefinition.Name)}", failures);
            if (!ExchangeTypes.Contains(exchange.Type, StringComparer.Ordinal) && !exchange.Type.StartsWith("x-", StringComparison.Ordinal))
            {
                failures.Add($"{path}:{nameof(RabbitMqExchangeDefinition.Type)} '{exchange.Type}' is not an exchange type (direct, topic, fanout, headers or a plugin's x-...).");
            }
        }

        for (var i = 0; i < options.Queues.Count; i++)
        {
            var queue = options.Queues[i];
            var path = $"{Section}:{nameof(RabbitMqOptions.Queues)}:{i}";
            CheckName(queue.Name, $"{path}:{nameof(RabbitMqQueueDefinition.Name)}", failures);
            if (queue.QueueType is { } type && type is not ("classic" or "quorum" or "stream"))
            {
                failures.Add($"{path}:{nameof(RabbitMqQueueDefinition.QueueType)} '{type}' is not classic, quorum or stream.");
            }

            for (var j = 0; j < queue.Bindings.Count; j++)
            {
                var binding = queue.Bindings[j];
                CheckName(binding.Exchange, $"{path}:{nameof(RabbitMqQueueDefinition.Bindings)}:{j}:{nameof(RabbitMqBinding.Exchange)}", failures);
                if (binding.RoutingKey is null || Encoding.UTF8.GetByteCount(binding.RoutingKey) > 255)
                {
                    failures.Add($"{path}:{nameof(RabbitMqQueueDefinition.Bindings)}:{j}:{nameof(RabbitMqBinding.RoutingKey)} must be set and at most 255 bytes.");
                }
            }
        }

        ValidatePartitionedQueues(options, failures);
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static void ValidatePartitionedQueues(RabbitMqOptions options, List<string> failures)
    {
        const string Section = RabbitMqOptions.SectionName;
        var countByExchange = new Dictionary<string, int>(StringComparer.Ordinal);
        var names = new HashSet<string>(options.Queues.Select(q => q.Name), StringComparer.Ordinal);
        for (var i = 0; i < options.PartitionedQueues.Count; i++)
        {
            var partitioned = options.PartitionedQueues[i];
            var path = $"{Section}:{nameof(RabbitMqOptions.PartitionedQueues)}:{i}";
            if (partitioned.Partitions is < 1 or > 1024)
            {
                failures.Add($"{path}:{nameof(RabbitMqPartitionedQueueDefinition.Partitions)} must be between 1 and 1024 (it is {partitioned.Partitions}).");
                continue;
            }

            // The longest partition queue name must fit, not only the logical name.
            CheckName(partitioned.Name, $"{path}:{nameof(RabbitMqPartitionedQueueDefinition.Name)}", failures);
            if (!string.IsNullOrWhiteSpace(partitioned.Name) && Encoding.UTF8.GetByteCount(partitioned.QueueName(partitioned.Partitions - 1)) > 255)
            {
                failures.Add($"{path}:{nameof(RabbitMqPartitionedQueueDefinition.Name)} is too long: the partition queue '{partitioned.Name}.{partitioned.Partitions - 1}' would be over 255 bytes.");
            }

            if (partitioned.Exchange is { Length: > 0 } exchange)
            {
                CheckName(exchange, $"{path}:{nameof(RabbitMqPartitionedQueueDefinition.Exchange)}", failures);
            }

            if (partitioned.QueueType is { } type && type is not ("classic" or "quorum"))
            {
                failures.Add($"{path}:{nameof(RabbitMqPartitionedQueueDefinition.QueueType)} '{type}' is not classic or quorum (a single active consumer needs one of them).");
            }

            if (!names.Add(partitioned.Name))
            {
                failures.Add($"{path}:{nameof(RabbitMqPartitionedQueueDefinition.Name)} '{partitioned.Name}' is declared twice (in {nameof(RabbitMqOptions.Queues)} or {nameof(RabbitMqOptions.PartitionedQueues)}).");
            }

            var exchangeName = partitioned.ExchangeName;
            if (options.Exchanges.Any(e => string.Equals(e.Name, exchangeName, StringComparison.Ordinal)))
            {
                failures.Add($"{path}: the exchange '{exchangeName}' is declared by the partitioned queue (as a direct exchange); remove it from {Section}:{nameof(RabbitMqOptions.Exchanges)}.");
            }

            if (countByExchange.TryGetValue(exchangeName, out var count) && count != partitioned.Partitions)
            {
                failures.Add($"{path}:{nameof(RabbitMqPartitionedQueueDefinition.Partitions)} is {partitioned.Partitions}, but another partitioned queue on exchange '{exchangeName}' has {count}: queues sharing an exchange must have the same partition count.");
            }

            countByExchange.TryAdd(exchangeName, partitioned.Partitions);
        }
    }

    private static void CheckName(string? value, string option, List<string> failures)
    {
        if (string.IsNullOrWhiteSpace(value) || Encoding.UTF8.GetByteCount(value) > 255)
        {
            failures.Add($"{option} must be 1 to 255 bytes.");
        }
        else if (value.StartsWith("amq.", StringComparison.Ordinal))
        {
            failures.Add($"{option} '{value}' uses the prefix 'amq.', which the broker reserves.");
        }
    }
}
