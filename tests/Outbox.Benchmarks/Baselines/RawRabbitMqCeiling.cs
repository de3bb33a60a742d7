using System.Diagnostics;
using Outbox.Benchmarks.Reporting;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace Outbox.Benchmarks.Baselines;

/// <summary>
/// The broker's ceiling for the <c>rabbitmq</c> scenario, with no library code and no database: <c>publishers</c>
/// loops each publish batches of <c>batch</c> persistent messages on their own confirm-tracking channel and await the
/// batch's confirms together, as the dispatcher does, while one consumer with the same prefetch acknowledges each
/// delivery. The messages look like the library's on the wire (same payload, a topic exchange bound with <c>#</c>,
/// message id, type, content type, timestamp and the three text headers of an unkeyed, untraced message), so the broker does the same work per message.
/// Timed until the consumer has acknowledged all N.
/// </summary>
internal static class RawRabbitMqCeiling
{
    public static async Task<BaselineResult> RunAsync(
        Uri amqp, int messages, int publishers, int batch, ushort prefetch, ReadOnlyMemory<byte> payload, TextWriter log, CancellationToken cancellationToken)
    {
        var factory = new ConnectionFactory { Uri = amqp, ClientProvidedName = "outbox-bench-ceiling" };
        await using var publishing = await factory.CreateConnectionAsync(cancellationToken);
        await using var consuming = await factory.CreateConnectionAsync(cancellationToken);
        await using var admin = await publishing.CreateChannelAsync(cancellationToken: cancellationToken);
        var queue = $"outbox-bench.{Guid.NewGuid():N}"[..28] + ".ceiling";
        var exchange = queue + ".x";
        const string routingKey = "Outbox.Benchmarks.Infrastructure.OrderPlaced";
        await admin.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false, cancellationToken: cancellationToken);
        await admin.ExchangeDeclareAsync(exchange, ExchangeType.Topic, durable: true, cancellationToken: cancellationToken);
        await admin.QueueBindAsync(queue, exchange, "#", cancellationToken: cancellationToken);
        try
        {
            var consumed = 0L;
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            await using var consumerChannel = await consuming.CreateChannelAsync(cancellationToken: cancellationToken);
            await consumerChannel.BasicQosAsync(0, prefetch, global: false, cancellationToken);
            var consumer = new AsyncEventingBasicConsumer(consumerChannel);
            consumer.ReceivedAsync += async (_, delivery) =>
            {
                await consumerChannel.BasicAckAsync(delivery.DeliveryTag, multiple: false, CancellationToken.None);
                if (Interlocked.Increment(ref consumed) == messages)
                {
                    done.TrySetResult();
                }
            };
            await consumerChannel.BasicConsumeAsync(queue, autoAck: false, consumer, cancellationToken);

            var published = 0L;
            var started = Stopwatch.GetTimestamp();
            await using (Progress.Start(log, () =>
            {
                var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
                return $"  [broker ceiling] {seconds,6:0.0}s  confirmed {Interlocked.Read(ref published),9:N0}  consumed {Interlocked.Read(ref consumed),9:N0} ({Interlocked.Read(ref consumed) / seconds,7:N0}/s)";
            }))
            {
                var next = 0L;
                await Task.WhenAll(Enumerable.Range(0, publishers).Select(_ => Task.Run(async () =>
                {
                    await using var channel = await publishing.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true), cancellationToken);
                    var pending = new List<Task>(batch);
                    while (true)
                    {
                        var take = (int)Math.Min(batch, messages - (Interlocked.Add(ref next, batch) - batch));
                        if (take <= 0)
                        {
                            return;
                        }

                        pending.Clear();
                        for (var i = 0; i < take; i++)
                        {
                            var id = Guid.CreateVersion7().ToString("D");
                            var properties = new BasicProperties
                            {
                                Persistent = true,
                                MessageId = id,
                                Type = routingKey,
                                ContentType = "application/json",
                                Timestamp = new AmqpTimestamp(DateTimeOffset.UtcNow.ToUnixTimeSeconds()),
                                Headers = new Dictionary<string, object?>(3)
                                {
                                    ["outbox-message-id"] = id,
                                    ["outbox-message-type"] = routingKey,
                                    ["outbox-attempt"] = "1",
                                },
                            };
                            pending.Add(channel.BasicPublishAsync(exchange, routingKey, mandatory: true, properties, payload, CancellationToken.None).AsTask());
                        }

                        await Task.WhenAll(pending);
                        Interlocked.Add(ref published, take);
                    }
                }, cancellationToken)));
                await done.Task.WaitAsync(cancellationToken);
            }

            return new BaselineResult(messages, Stopwatch.GetElapsedTime(started), messages);
        }
        finally
        {
            await admin.QueueDeleteAsync(queue, ifUnused: false, ifEmpty: false, cancellationToken: CancellationToken.None);
            await admin.ExchangeDeleteAsync(exchange, ifUnused: false, cancellationToken: CancellationToken.None);
        }
    }
}
