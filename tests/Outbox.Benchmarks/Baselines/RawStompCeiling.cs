using System.Diagnostics;
using System.Globalization;
using Outbox.ActiveMQ.Stomp;
using Outbox.Benchmarks.Reporting;

namespace Outbox.Benchmarks.Baselines;

/// <summary>
/// The broker's ceiling for the <c>activemq</c> scenario, with no library pipeline and no database: <c>publishers</c>
/// connections each write batches of <c>batch</c> persistent SEND frames with receipts and await the batch's receipts
/// together, as the transport does, while one consumer with the same prefetch ACKs each MESSAGE. Frames are written with
/// the STOMP codec of Outbox.ActiveMQ (there is no other .NET STOMP client to measure with); the messages carry the same
/// payload and the same headers as the library's unkeyed, untraced ones. Timed until the consumer has ACKed all N.
/// </summary>
internal static class RawStompCeiling
{
    public static async Task<BaselineResult> RunAsync(
        Uri stomp, int messages, int publishers, int batch, int prefetch, ReadOnlyMemory<byte> payload, TextWriter log, CancellationToken cancellationToken)
    {
        var settings = new StompConnectionSettings { Host = stomp.Host, Port = stomp.Port, VirtualHost = stomp.Host, HeartBeat = TimeSpan.Zero };
        var queue = $"/queue/outbox-bench.{Guid.NewGuid():N}"[..32] + ".ceiling";
        const string type = "Outbox.Benchmarks.Infrastructure.OrderPlaced";
        var consumed = 0L;
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        StompConnection? consumer = null;
        consumer = await StompConnection.OpenAsync(settings, TimeProvider.System, frame =>
        {
            consumer!.Post(StompCommands.Ack, [new("id", frame["ack"]!)]);
            if (Interlocked.Increment(ref consumed) == messages)
            {
                done.TrySetResult();
            }
        }, cancellationToken);
        await using (consumer)
        {
            await consumer.RequestAsync(
                StompCommands.Subscribe,
                [new("id", "0"), new("destination", queue), new("ack", "client-individual"), new("activemq.prefetchSize", prefetch.ToString(CultureInfo.InvariantCulture))],
                default,
                TimeSpan.FromSeconds(30),
                cancellationToken);

            var published = 0L;
            var started = Stopwatch.GetTimestamp();
            await using (Progress.Start(log, () =>
            {
                var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
                return $"  [STOMP ceiling] {seconds,6:0.0}s  receipted {Interlocked.Read(ref published),9:N0}  consumed {Interlocked.Read(ref consumed),9:N0} ({Interlocked.Read(ref consumed) / seconds,7:N0}/s)";
            }))
            {
                var next = 0L;
                await Task.WhenAll(Enumerable.Range(0, publishers).Select(_ => Task.Run(async () =>
                {
                    await using var connection = await StompConnection.OpenAsync(settings, TimeProvider.System, null, cancellationToken);
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
                            pending.Add(connection.RequestAsync(
                                StompCommands.Send,
                                [
                                    new("destination", queue), new("persistent", "true"), new("content-type", "application/json"),
                                    new("outbox-message-id", id), new("outbox-message-type", type), new("type", type), new("outbox-attempt", "1"),
                                ],
                                payload,
                                TimeSpan.FromSeconds(60),
                                CancellationToken.None));
                        }

                        await Task.WhenAll(pending);
                        Interlocked.Add(ref published, take);
                    }
                }, cancellationToken)));
                await done.Task.WaitAsync(cancellationToken);
            }

            return new BaselineResult(messages, Stopwatch.GetElapsedTime(started), messages);
        }
    }
}
