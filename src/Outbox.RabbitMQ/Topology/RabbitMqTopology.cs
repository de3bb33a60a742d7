using RabbitMQ.Client;

namespace Outbox.RabbitMQ;

/// <summary>Declares the configured exchanges, queues and bindings; idempotent, run on every new connection.</summary>
internal static class RabbitMqTopology
{
    public static async Task DeclareAsync(IConnection connection, RabbitMqOptions options, CancellationToken cancellationToken)
    {
        if (!options.DeclareTopology || (options.Exchanges.Count == 0 && options.Queues.Count == 0 && options.PartitionedQueues.Count == 0))
        {
            return;
        }

        var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        await using (channel.ConfigureAwait(false))
        {
            foreach (var exchange in options.Exchanges)
            {
                await channel.ExchangeDeclareAsync(
                    exchange.Name, exchange.Type, durable: exchange.Durable, autoDelete: false, arguments: null, cancellationToken: cancellationToken).ConfigureAwait(false);
            }

            foreach (var queue in options.Queues)
            {
                var arguments = new Dictionary<string, object?>(StringComparer.Ordinal);
                if (queue.QueueType is { } type)
                {
                    arguments["x-queue-type"] = type;
                }

                if (queue.DeadLetterExchange is { } dlx)
                {
                    arguments["x-dead-letter-exchange"] = dlx;
                }

                if (queue.DeadLetterRoutingKey is { } dlk)
                {
                    arguments["x-dead-letter-routing-key"] = dlk;
                }

                await channel.QueueDeclareAsync(
                    queue.Name, durable: queue.Durable, exclusive: false, autoDelete: false,
                    arguments: arguments.Count == 0 ? null : arguments, cancellationToken: cancellationToken).ConfigureAwait(false);
                foreach (var binding in queue.Bindings)
                {
                    await channel.QueueBindAsync(queue.Name, binding.Exchange, binding.RoutingKey, arguments: null, cancellationToken: cancellationToken).ConfigureAwait(false);
                }
            }

            foreach (var partitioned in options.PartitionedQueues)
            {
                await DeclarePartitionsAsync(channel, partitioned, cancellationToken).ConfigureAwait(false);
            }

            await channel.CloseAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The direct exchange of a partitioned queue and its partitions, each with a single active consumer and bound with
    /// its partition number as binding key.
    /// </summary>
    private static async Task DeclarePartitionsAsync(IChannel channel, RabbitMqPartitionedQueueDefinition partitioned, CancellationToken cancellationToken)
    {
        var exchange = partitioned.ExchangeName;
        await channel.ExchangeDeclareAsync(exchange, ExchangeType.Direct, durable: partitioned.Durable, autoDelete: false, arguments: null, cancellationToken: cancellationToken).ConfigureAwait(false);
        var arguments = new Dictionary<string, object?>(StringComparer.Ordinal) { ["x-single-active-consumer"] = true };
        if (partitioned.QueueType is { } type)
        {
            arguments["x-queue-type"] = type;
        }

        for (var partition = 0; partition < partitioned.Partitions; partition++)
        {
            var queue = partitioned.QueueName(partition);
            await channel.QueueDeclareAsync(queue, durable: partitioned.Durable, exclusive: false, autoDelete: false, arguments, cancellationToken: cancellationToken).ConfigureAwait(false);
            await channel.QueueBindAsync(queue, exchange, RoutingKeyOf(partition), arguments: null, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The routing (and binding) key of a partition: its number.</summary>
    public static string RoutingKeyOf(int partition) => partition.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The exchanges the options declare: plain ones and those of partitioned queues.</summary>
    public static IEnumerable<string> DeclaredExchanges(RabbitMqOptions options) =>
        options.Exchanges.Select(e => e.Name).Concat(options.PartitionedQueues.Select(p => p.ExchangeName));
}
