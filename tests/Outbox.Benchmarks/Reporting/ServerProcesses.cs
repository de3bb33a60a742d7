using System.Globalization;

namespace Outbox.Benchmarks.Reporting;

/// <summary>
/// Finds a local PostgreSQL server by its TCP port (each postmaster's data directory holds postmaster.pid, whose
/// fourth line is the port) and reads the CPU time of the postmaster and all its backends from /proc, including the
/// time of backends already gone (the postmaster's cutime/cstime). Linux only; elsewhere, or for a remote server,
/// <see cref="Find"/> returns null.
/// </summary>
public sealed class ServerProcesses
{
    private static readonly double TicksPerSecond = 100.0; // USER_HZ

    private readonly int _postmaster;

    private ServerProcesses(int postmaster) => _postmaster = postmaster;

    public static ServerProcesses? Find(int port)
    {
        if (!Directory.Exists("/proc"))
        {
            return null;
        }

        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), out var pid))
            {
                continue;
            }

            try
            {
                var arguments = File.ReadAllText(Path.Combine(directory, "cmdline")).Split('\0');
                var data = Array.IndexOf(arguments, "-D");
                if (data < 0 || data + 1 >= arguments.Length || !Path.GetFileName(arguments[0]).StartsWith("postgres", StringComparison.Ordinal))
                {
                    continue;
                }

                var lines = File.ReadAllLines(Path.Combine(arguments[data + 1], "postmaster.pid"));
                if (lines.Length > 3 && int.Parse(lines[0], CultureInfo.InvariantCulture) == pid && lines[3].Trim() == port.ToString(CultureInfo.InvariantCulture))
                {
                    return new ServerProcesses(pid);
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException)
            {
                // Gone, or not ours to read.
            }
        }

        return null;
    }

    /// <summary>CPU seconds used so far by the server: postmaster, live backends, and reaped backends.</summary>
    public double CpuSeconds()
    {
        long ticks = 0;
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), out var pid))
            {
                continue;
            }

            try
            {
                var stat = File.ReadAllText(Path.Combine(directory, "stat"));

                // Fields after the parenthesised command: state(3) ppid(4) ... utime(14) stime(15) cutime(16) cstime(17).
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                var parent = int.Parse(fields[1], CultureInfo.InvariantCulture);
                if (pid == _postmaster)
                {
                    ticks += long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)
                        + long.Parse(fields[13], CultureInfo.InvariantCulture) + long.Parse(fields[14], CultureInfo.InvariantCulture);
                }
                else if (parent == _postmaster)
                {
                    ticks += long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
            {
                // The process ended while we looked.
            }
        }

        return ticks / TicksPerSecond;
    }
}
