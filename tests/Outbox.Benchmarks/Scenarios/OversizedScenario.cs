using System.Data.Common;
using System.Globalization;
using Outbox.Benchmarks.Infrastructure;
using Outbox.Benchmarks.Options;
using Outbox.Benchmarks.Reporting;

namespace Outbox.Benchmarks.Scenarios;

/// <summary>
/// <c>oversized</c>: a row far above <see cref="OutboxDispatcherOptions.MaxPayloadSize"/> (default 100 MiB of random
/// bytes, so no compression hides it) is written by SQL next to ordinary messages, as <c>Publish</c> would refuse it;
/// the dispatcher in this process must dead-letter it without reading its payload. Reported: how much this process's
/// peak resident set grew from just before the dispatcher saw the row to when the row was dead-lettered (the peak is
/// reset through <c>/proc/self/clear_refs</c> after the row is written, so the write itself does not count; on SQLite
/// that write runs in this process).
/// </summary>
public static class OversizedScenario
{
    private const int Rows = 201; // the first becomes the big one
    private const int Ordinary = Rows - 1;
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(10);

    public static async Task RunAsync(BenchContext context, BenchDatabase database, Report report)
    {
        var options = context.Options;
        var ct = context.Cancellation;
        var log = context.Log;
        var bytes = options.PayloadMegabytes * 1024L * 1024L;
        var transport = new NullTransport();
        await using var fleet = DispatcherFleet.Build(database, options, transport, log, wakeup: false);
        report.Set("payload_bytes", bytes).Set("max_payload_size", fleet.Options.MaxPayloadSize).Set("ordinary_messages", Ordinary);
        await fleet.StartAsync(ct);

        // Warm-up: pools open, code jitted, so that what grows afterwards is the big row's doing.
        await database.PrefillAsync(2_000, ct);
        fleet.NotifyAll();
        await Wait.UntilAsync(() => transport.Delivered >= 2_000, Poll, context.Timeout, "the warm-up messages were delivered", ct);
        await Wait.UntilAsync(() => database.IsOutboxEmptyAsync(ct), Poll, context.Timeout, "the warm-up left the outbox empty", ct);
        await fleet.Stats.PauseAsync();
        transport.Reset();

        await database.PrefillAsync(Rows, ct);
        await log.WriteLineAsync($"Writing a {options.PayloadMegabytes} MiB payload into one outbox row by SQL ...");
        var t = database.Tables.Outbox;
        var d = database.Tables.DeadLetters;
        await using (var connection = await database.OpenConnectionAsync(ct))
        {
            await using var command = connection.CreateCommand();
            command.CommandTimeout = 600;
            command.CommandText = database.Provider == BenchProvider.Postgres
                ? $"UPDATE {t} SET payload = (SELECT decode(string_agg(md5(g::text), ''), 'hex') FROM generate_series(1, {bytes / 16}) AS g) WHERE id = (SELECT min(id) FROM {t})"
                : $"UPDATE {t} SET payload = randomblob({bytes}) WHERE id = (SELECT min(id) FROM {t})";
            await command.ExecuteNonQueryAsync(ct);
        }

        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        var peakReset = ResetPeak();
        var before = Status("VmRSS:");
        var beforePeak = Status("VmHWM:");
        await log.WriteLineAsync($"RSS before: {before:F1} MB (peak reset: {peakReset}, peak now {beforePeak:F1} MB); dispatching ...");

        fleet.Stats.Paused = false;
        fleet.NotifyAll();
        await Wait.UntilAsync(() => transport.Delivered >= Ordinary, Poll, context.Timeout, "the ordinary messages were delivered", ct);
        await Wait.UntilAsync(() => database.IsOutboxEmptyAsync(ct), Poll, context.Timeout, "the big row left the outbox", ct);
        var after = Status("VmHWM:");
        await fleet.StopAsync();

        string? reason = null;
        long deadLettered = 0;
        long deadBytes = 0;
        await using (var connection = await database.OpenConnectionAsync(ct))
        {
            await using var command = connection.CreateCommand();
            var length = database.Provider == BenchProvider.Postgres ? "octet_length" : "length";
            command.CommandText = $"SELECT count(*), max(reason), max({length}(payload)) FROM {d}";
            await using var reader = await command.ExecuteReaderAsync(ct);
            if (await reader.ReadAsync(ct))
            {
                deadLettered = Convert.ToInt64(reader.GetValue(0), CultureInfo.InvariantCulture);
                reason = reader.IsDBNull(1) ? null : reader.GetString(1);
                deadBytes = reader.IsDBNull(2) ? 0 : Convert.ToInt64(reader.GetValue(2), CultureInfo.InvariantCulture);
            }
        }

        var growth = peakReset ? after - before : after - beforePeak;
        report.Set("rss_before_mb", Math.Round(before, 1))
            .Set("rss_peak_after_mb", Math.Round(after, 1))
            .Set("peak_rss_growth_mb", Math.Round(growth, 1))
            .Set("peak_reset", peakReset)
            .Set("delivered", transport.Delivered)
            .Set("dead_lettered", deadLettered)
            .Set("dead_letter_payload_bytes", deadBytes)
            .Set("dead_letter_reason", reason);
        report.AddNote($"A {options.PayloadMegabytes} MiB row written by SQL: dead-lettered {deadLettered}, peak RSS growth {growth:F1} MB while it was claimed and moved.");
        if (deadLettered != 1 || deadBytes != bytes || transport.Delivered != Ordinary)
        {
            report.Fail($"expected the big row dead-lettered whole and {Ordinary} delivered; got {deadLettered} dead letter(s) of {deadBytes} bytes and {transport.Delivered} delivered");
        }
    }

    /// <summary>Resets the kernel's peak RSS (VmHWM) of this process to its current RSS (Linux 4.0+).</summary>
    private static bool ResetPeak()
    {
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    private static double Status(string field)
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith(field, StringComparison.Ordinal))
            {
                return long.Parse(line[field.Length..].Replace("kB", "", StringComparison.Ordinal).Trim(), CultureInfo.InvariantCulture) / 1024.0;
            }
        }

        return 0;
    }
}
