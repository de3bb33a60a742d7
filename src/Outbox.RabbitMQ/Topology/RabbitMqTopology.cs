using RabbitMQ.Client;

namespace Outbox.RabbitMQ;

/// <summary>Declares the configured exchanges, queues and bindings; idempotent, run on every new connection.</summary>
internal static class RabbitMqTopology
{
    public static async Task DeclareAsync(IConnection connection, RabbitMqOptions options, CancellationToken cancellationToken)
    {
        if (!options.DeclareTopology || (options.Exchanges.Count == 0 && options.Queues.Count == 0))
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

            await channel.CloseAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Whether <paramref name="exchange"/> is the default exchange or declared by the options (so it exists).</summary>
    public static bool IsDeclared(RabbitMqOptions options, string exchange) =>
        exchange.Length == 0 || (options.DeclareTopology && options.Exchanges.Any(e => string.Equals(e.Name, exchange, StringComparison.Ordinal)));
}
