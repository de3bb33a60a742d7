using System.Diagnostics;
using System.Text;
using Confluent.Kafka;
using Outbox.Benchmarks.Reporting;

namespace Outbox.Benchmarks.Baselines;

/// <summary>
/// The cluster's ceiling for the <c>kafka</c> scenario, with no library code and no database: <c>producers</c> loops
/// each produce batches of <c>batch</c> records on one idempotent, acks=all producer (the transport's settings: linger
/// 5 ms) and await the batch's delivery reports together, as the dispatcher does, while one group consumer reads them
/// (committing offsets once a second). The records look like the library's: same payload, the library's headers of an
/// unkeyed, untraced message. Timed until the consumer has read all N.
/// </summary>
internal static class RawKafkaCeiling
{
    public static async Task<BaselineResult> RunAsync(
        string bootstrap, string topic, int messages, int producers, int batch, ReadOnlyMemory<byte> payload, TextWriter log, CancellationToken cancellationToken)
    {
        const string type = "Outbox.Benchmarks.Infrastructure.OrderPlaced";
        var body = payload.ToArray();
        using var producer = new ProducerBuilder<byte[]?, byte[]>(new ProducerConfig
        {
            BootstrapServers = bootstrap,
            EnableIdempotence = true,
            Acks = Acks.All,
            LingerMs = 5,
            ClientId = "outbox-bench-ceiling",
        }).Build();
        var consumed = 0L;
        var published = 0L;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var reader = Task.Factory.StartNew(
            () =>
            {
                using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig
                {
                    BootstrapServers = bootstrap,
                    GroupId = topic + ".group",
                    AutoOffsetReset = AutoOffsetReset.Earliest,
                    EnableAutoCommit = true,
                    AutoCommitIntervalMs = 1000,
                }).Build();
                consumer.Subscribe(topic);
                while (Interlocked.Read(ref consumed) < messages && !stop.IsCancellationRequested)
                {
                    if (consumer.Consume(TimeSpan.FromMilliseconds(100)) is { Message: not null })
                    {
                        Interlocked.Increment(ref consumed);
                    }
                }

                consumer.Close();
            },
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default);

        var started = Stopwatch.GetTimestamp();
        await using (Progress.Start(log, () =>
        {
            var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
            return $"  [cluster ceiling] {seconds,6:0.0}s  delivered {Interlocked.Read(ref published),9:N0}  consumed {Interlocked.Read(ref consumed),9:N0} ({Interlocked.Read(ref consumed) / seconds,7:N0}/s)";
        }))
        {
            var next = 0L;
            await Task.WhenAll(Enumerable.Range(0, producers).Select(_ => Task.Run(async () =>
            {
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
                        var headers = new Headers
                        {
                            { "outbox-message-id", Encoding.UTF8.GetBytes(id) },
                            { "outbox-message-type", Encoding.UTF8.GetBytes(type) },
                            { "outbox-attempt", "1"u8.ToArray() },
                            { "content-type", "application/json"u8.ToArray() },
                        };
                        pending.Add(producer.ProduceAsync(topic, new Message<byte[]?, byte[]> { Value = body, Headers = headers }, cancellationToken));
                    }

                    await Task.WhenAll(pending);
                    Interlocked.Add(ref published, take);
                }
            }, cancellationToken)));
            await reader.WaitAsync(cancellationToken);
        }

        await stop.CancelAsync();
        return new BaselineResult(messages, Stopwatch.GetElapsedTime(started), messages);
    }
}
