using System.Runtime.InteropServices;
using System.Text;

// Usage: Outbox.KafkaMockCluster [brokers=3]
// Prints "bootstrap=<host:port,...>" on stdout once the cluster listens, then reads commands from stdin:
//   topic <name> <partitions>   creates a topic (replies "ok" or "error <code>")
//   down                        takes every broker down: connections are closed and refused (stored data stays)
//   up                          brings every broker up again
// and exits when stdin closes (its parent went away) or on SIGTERM/SIGINT.
var brokers = args.Length > 0 && int.TryParse(args[0], out var n) && n > 0 ? n : 3;

NativeLibrary.SetDllImportResolver(typeof(Native).Assembly, Native.Resolve);
var handle = Native.CreateHandle();
var cluster = Native.rd_kafka_mock_cluster_new(handle, brokers);
if (cluster == IntPtr.Zero)
{
    Console.Error.WriteLine("rd_kafka_mock_cluster_new failed");
    return 2;
}

var bootstrap = Marshal.PtrToStringUTF8(Native.rd_kafka_mock_cluster_bootstraps(cluster)) ?? "";
Console.Out.WriteLine($"bootstrap={bootstrap}");
Console.Out.Flush();

using var stop = new CancellationTokenSource();
using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.Cancel(); });
var reader = new Thread(() =>
{
    string? line;
    while ((line = Console.In.ReadLine()) is not null)
    {
        var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 3 && parts[0] == "topic" && int.TryParse(parts[2], out var partitions))
        {
            var err = Native.rd_kafka_mock_topic_create(cluster, parts[1], partitions, Math.Min(brokers, 3));
            Console.Out.WriteLine(err == 0 ? "ok" : $"error {err}");
        }
        else if (parts is ["down"] or ["up"])
        {
            var err = 0;
            for (var id = 1; id <= brokers; id++)
            {
                err |= parts[0] == "down" ? Native.rd_kafka_mock_broker_set_down(cluster, id) : Native.rd_kafka_mock_broker_set_up(cluster, id);
            }

            Console.Out.WriteLine(err == 0 ? "ok" : $"error {err}");
        }
        else
        {
            Console.Out.WriteLine("error unknown command");
        }

        Console.Out.Flush();
    }

    stop.Cancel();
}) { IsBackground = true };
reader.Start();

try
{
    await Task.Delay(Timeout.Infinite, stop.Token);
}
catch (OperationCanceledException)
{
}

Native.rd_kafka_mock_cluster_destroy(cluster);
Native.rd_kafka_destroy(handle);
return 0;

internal static partial class Native
{
    private const string Library = "librdkafka";

    /// <summary>
    /// The default build needs libsasl2.so.3 (absent on Debian); like Confluent.Kafka, fall back to the build shipped for
    /// CentOS 8, which needs nothing beyond glibc.
    /// </summary>
    public static IntPtr Resolve(string name, System.Reflection.Assembly assembly, DllImportSearchPath? path)
    {
        if (name != Library)
        {
            return IntPtr.Zero;
        }

        var directory = Path.Combine(AppContext.BaseDirectory, "runtimes", RuntimeInformation.RuntimeIdentifier.StartsWith("linux-arm64", StringComparison.Ordinal) ? "linux-arm64" : "linux-x64", "native");
        foreach (var file in new[] { "librdkafka.so", "centos8-librdkafka.so", "librdkafka.dylib", "librdkafka.dll" })
        {
            if (NativeLibrary.TryLoad(Path.Combine(directory, file), out var loaded))
            {
                return loaded;
            }
        }

        return NativeLibrary.TryLoad(name, assembly, path, out var fallback) ? fallback : IntPtr.Zero;
    }

    public static IntPtr CreateHandle()
    {
        var conf = rd_kafka_conf_new();
        var error = new byte[512];
        var handle = rd_kafka_new(0 /* RD_KAFKA_PRODUCER */, conf, error, (UIntPtr)error.Length);
        if (handle == IntPtr.Zero)
        {
            throw new InvalidOperationException("rd_kafka_new failed: " + Encoding.UTF8.GetString(error).TrimEnd('\0'));
        }

        return handle;
    }

    [LibraryImport(Library)]
    public static partial IntPtr rd_kafka_conf_new();

    [LibraryImport(Library)]
    public static partial IntPtr rd_kafka_new(int type, IntPtr conf, [Out] byte[] errstr, UIntPtr errstrSize);

    [LibraryImport(Library)]
    public static partial void rd_kafka_destroy(IntPtr rk);

    [LibraryImport(Library)]
    public static partial IntPtr rd_kafka_mock_cluster_new(IntPtr rk, int brokerCount);

    [LibraryImport(Library)]
    public static partial IntPtr rd_kafka_mock_cluster_bootstraps(IntPtr cluster);

    [LibraryImport(Library)]
    public static partial void rd_kafka_mock_cluster_destroy(IntPtr cluster);

    [LibraryImport(Library)]
    public static partial int rd_kafka_mock_broker_set_down(IntPtr cluster, int brokerId);

    [LibraryImport(Library)]
    public static partial int rd_kafka_mock_broker_set_up(IntPtr cluster, int brokerId);

    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int rd_kafka_mock_topic_create(IntPtr cluster, string topic, int partitions, int replicationFactor);
}
