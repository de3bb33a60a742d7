using System.Diagnostics;
using System.Globalization;

namespace Outbox.Benchmarks.Reporting;

/// <summary>
/// CPU used during a measured window, in cores: by the whole machine (from /proc/stat), by this process, and by the
/// local database server when it could be found (<see cref="Server"/>). On a small shared box these say whether a
/// figure is CPU-bound (machine near the core count) and whether a neighbour disturbed it
/// (<see cref="CpuUsage.Others"/> = machine - this process - database server).
/// </summary>
public readonly record struct CpuSample(long Timestamp, double MachineBusySeconds, double ProcessSeconds, double? ServerSeconds)
{
    /// <summary>The local PostgreSQL server whose CPU is attributed separately; set by the database at start.</summary>
    public static ServerProcesses? Server { get; set; }

    public static CpuSample Take()
    {
        using var process = Process.GetCurrentProcess();
        return new CpuSample(Stopwatch.GetTimestamp(), ReadMachineBusySeconds(), process.TotalProcessorTime.TotalSeconds, Server?.CpuSeconds());
    }

    /// <summary>Average cores busy between <paramref name="start"/> and this sample.</summary>
    public CpuUsage CoresSince(CpuSample start)
    {
        var seconds = Stopwatch.GetElapsedTime(start.Timestamp, Timestamp).TotalSeconds;
        var machine = double.IsNaN(MachineBusySeconds) ? (double?)null : (MachineBusySeconds - start.MachineBusySeconds) / seconds;
        var server = ServerSeconds - start.ServerSeconds;
        return new CpuUsage(machine, (ProcessSeconds - start.ProcessSeconds) / seconds, server / seconds);
    }

    /// <summary>The 1-minute load average, or null off Linux: a busy machine before the run makes the figures suspect.</summary>
    public static double? LoadAverage()
    {
        const string path = "/proc/loadavg";
        return File.Exists(path)
            ? double.Parse(File.ReadAllText(path).Split(' ')[0], CultureInfo.InvariantCulture)
            : null;
    }

    private static double ReadMachineBusySeconds()
    {
        const string path = "/proc/stat";
        if (!File.Exists(path))
        {
            return double.NaN;
        }

        // cpu  user nice system idle iowait irq softirq steal ...  (in USER_HZ, 100 per second on Linux)
        var fields = File.ReadLines(path).First().Split(' ', StringSplitOptions.RemoveEmptyEntries);
        long Field(int i) => i < fields.Length ? long.Parse(fields[i], CultureInfo.InvariantCulture) : 0;
        var busy = Field(1) + Field(2) + Field(3) + Field(6) + Field(7) + Field(8);
        return busy / 100.0;
    }
}

/// <summary>Cores busy on average: the machine (null off Linux), this process, the database server (null when not found).</summary>
public readonly record struct CpuUsage(double? Machine, double Self, double? Server)
{
    /// <summary>
    /// Everything else: other processes on the machine. Above ~0.2 cores, a neighbour disturbed the run. (An unknown
    /// server counts as 0: SQLite runs inside this process, a remote server elsewhere.)
    /// </summary>
    public double? Others => Machine - Self - (Server ?? 0);
}
