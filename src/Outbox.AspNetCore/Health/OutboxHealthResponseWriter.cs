using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Outbox.AspNetCore;

/// <summary>
/// Writes a health report as JSON that a person can read at a glance and a monitor can parse: the overall status, and
/// for each check its status, description, duration, tags, data (the outbox checks put their readings there: pending
/// count, oldest age, dead letters, ...) and error. Use it as the response writer of a health endpoint:
/// <c>app.MapHealthChecks("/health", new() { ResponseWriter = OutboxHealthResponseWriter.WriteAsync })</c>.
/// </summary>
/// <example>
/// <code>
/// { "status": "Degraded", "totalDurationMs": 3.2, "checks": [
///   { "name": "outbox-backlog", "status": "Degraded", "description": "...", "durationMs": 1.1, "tags": ["outbox"],
///     "data": { "pending": 120, "oldest_pending_age_seconds": 75.5 } } ] }
/// </code>
/// </example>
public static class OutboxHealthResponseWriter
{
    private static readonly JsonWriterOptions Options = new() { Indented = true };

    /// <summary>Writes <paramref name="report"/> to the response as <c>application/json</c>.</summary>
    /// <param name="context">The request's context.</param>
    /// <param name="report">The report the health check middleware produced.</param>
    /// <returns>A task that completes when the response is written.</returns>
    public static async Task WriteAsync(HttpContext context, HealthReport report)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(report);
        context.Response.ContentType = "application/json; charset=utf-8";
        var writer = new Utf8JsonWriter(context.Response.Body, Options);
        await using (writer.ConfigureAwait(false))
        {
            writer.WriteStartObject();
            writer.WriteString("status", report.Status.ToString());
            writer.WriteNumber("totalDurationMs", Math.Round(report.TotalDuration.TotalMilliseconds, 1));
            writer.WriteStartArray("checks");
            foreach (var (name, entry) in report.Entries)
            {
                writer.WriteStartObject();
                writer.WriteString("name", name);
                writer.WriteString("status", entry.Status.ToString());
                if (entry.Description is { } description)
                {
                    writer.WriteString("description", description);
                }

                writer.WriteNumber("durationMs", Math.Round(entry.Duration.TotalMilliseconds, 1));
                writer.WriteStartArray("tags");
                foreach (var tag in entry.Tags)
                {
                    writer.WriteStringValue(tag);
                }

                writer.WriteEndArray();
                writer.WriteStartObject("data");
                foreach (var (key, value) in entry.Data)
                {
                    WriteValue(writer, key, value);
                }

                writer.WriteEndObject();
                if (entry.Exception is { } exception)
                {
                    writer.WriteString("error", $"{exception.GetType().Name}: {exception.Message}");
                }

                writer.WriteEndObject();
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
            await writer.FlushAsync(context.RequestAborted).ConfigureAwait(false);
        }
    }

    private static void WriteValue(Utf8JsonWriter writer, string key, object? value)
    {
        switch (value)
        {
            case null:
                writer.WriteNull(key);
                break;
            case bool flag:
                writer.WriteBoolean(key, flag);
                break;
            case int or long or short or byte or uint or ulong or ushort or sbyte:
                writer.WriteNumber(key, Convert.ToInt64(value, CultureInfo.InvariantCulture));
                break;
            case double number when double.IsFinite(number):
                writer.WriteNumber(key, number);
                break;
            case float number when float.IsFinite(number):
                writer.WriteNumber(key, number);
                break;
            case decimal number:
                writer.WriteNumber(key, number);
                break;
            case TimeSpan span:
                writer.WriteString(key, span.ToString("c", CultureInfo.InvariantCulture));
                break;
            case DateTime time:
                writer.WriteString(key, time);
                break;
            case DateTimeOffset time:
                writer.WriteString(key, time);
                break;
            case IFormattable formattable:
                writer.WriteString(key, formattable.ToString(null, CultureInfo.InvariantCulture));
                break;
            default:
                writer.WriteString(key, value.ToString());
                break;
        }
    }
}
