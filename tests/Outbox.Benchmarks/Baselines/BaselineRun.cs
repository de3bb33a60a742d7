using System.Diagnostics;
using Outbox.Benchmarks.Reporting;

namespace Outbox.Benchmarks.Baselines;

/// <summary>What a baseline did: rows removed, in how long, with how many transactions.</summary>
public sealed record BaselineResult(long Rows, TimeSpan Elapsed, long Transactions)
{
    public double RowsPerSecond => Rows / Elapsed.TotalSeconds;
}

/// <summary>Runs <c>connections</c> worker loops to completion, with a progress line, and times them.</summary>
internal static class BaselineRun
{
    public static async Task<BaselineResult> RunAsync(
        string name,
        int connections,
        Func<Counters, CancellationToken, Task> worker,
        TextWriter log,
        CancellationToken cancellationToken)
    {
        var counters = new Counters();
        var started = Stopwatch.GetTimestamp();
        await using (Progress.Start(log, () =>
        {
            var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
            return $"  [{name}] {seconds,6:0.0}s  removed {counters.Rows,10:N0}  ({counters.Rows / seconds,9:N0} msg/s)";
        }))
        {
            await Task.WhenAll(Enumerable.Range(0, connections).Select(_ => Task.Run(() => worker(counters, cancellationToken), cancellationToken)));
        }

        return new BaselineResult(counters.Rows, Stopwatch.GetElapsedTime(started), counters.Transactions);
    }

    internal sealed class Counters
    {
        private long _rows;
        private long _transactions;

        public long Rows => Interlocked.Read(ref _rows);

        public long Transactions => Interlocked.Read(ref _transactions);

        public void Add(long rows)
        {
            Interlocked.Add(ref _rows, rows);
            Interlocked.Increment(ref _transactions);
        }
    }
}
