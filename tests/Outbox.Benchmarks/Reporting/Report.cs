using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Outbox.Benchmarks.Reporting;

/// <summary>
/// The result of one run: a readable table and notes for people, and one JSON object for tools, printed as the last
/// line of stdout. The JSON always has the common keys (null when a scenario does not measure them), then extras.
/// </summary>
public sealed class Report
{
    private static readonly string[] CommonKeys =
    [
        "scenario", "provider", "messages", "seconds", "msgs_per_s", "baseline_msgs_per_s", "ratio", "naive_msgs_per_s",
        "p50_ms", "p95_ms", "p99_ms", "max_ms",
    ];

    private readonly List<KeyValuePair<string, object?>> _fields = [.. CommonKeys.Select(k => new KeyValuePair<string, object?>(k, null))];
    private readonly List<string[]> _rows = [];
    private readonly List<string> _notes = [];

    public bool Failed { get; private set; }

    /// <summary>Sets a JSON field, keeping its place if it was set before. Doubles are rounded to 3 decimals.</summary>
    public Report Set(string key, object? value)
    {
        if (value is double d)
        {
            value = double.IsFinite(d) ? Math.Round(d, 3) : null;
        }

        var index = _fields.FindIndex(f => f.Key == key);
        var field = new KeyValuePair<string, object?>(key, value);
        if (index >= 0)
        {
            _fields[index] = field;
        }
        else
        {
            _fields.Add(field);
        }

        return this;
    }

    public object? Get(string key) => _fields.Find(f => f.Key == key).Value;

    /// <summary>Adds a row to the results table; the first row added is the header.</summary>
    public void AddRow(params string[] cells) => _rows.Add(cells);

    public void AddNote(string note) => _notes.Add(note);

    public void Fail(string error)
    {
        Failed = true;
        Set("error", error);
        AddNote($"FAILED: {error}");
    }

    public void WriteTable(TextWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteLine();
        if (_rows.Count > 0)
        {
            var columns = _rows.Max(r => r.Length);
            var widths = Enumerable.Range(0, columns).Select(c => _rows.Max(r => c < r.Length ? r[c].Length : 0)).ToArray();
            for (var r = 0; r < _rows.Count; r++)
            {
                var line = new StringBuilder();
                for (var c = 0; c < columns; c++)
                {
                    var cell = c < _rows[r].Length ? _rows[r][c] : "";

                    // First column left-aligned (names), the others right-aligned (numbers).
                    line.Append(c == 0 ? cell.PadRight(widths[c]) : cell.PadLeft(widths[c])).Append("  ");
                }

                writer.WriteLine(line.ToString().TrimEnd());
                if (r == 0)
                {
                    writer.WriteLine(new string('-', widths.Sum() + (2 * (columns - 1))));
                }
            }

            writer.WriteLine();
        }

        foreach (var note in _notes)
        {
            writer.WriteLine(note);
        }

        if (_notes.Count > 0)
        {
            writer.WriteLine();
        }
    }

    /// <summary>Writes the JSON object on one line.</summary>
    public void WriteJson(TextWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            foreach (var (key, value) in _fields)
            {
                json.WritePropertyName(key);
                WriteValue(json, value);
            }

            json.WriteEndObject();
        }

        writer.WriteLine(Encoding.UTF8.GetString(buffer.ToArray()));
    }

    private static void WriteValue(Utf8JsonWriter json, object? value)
    {
        switch (value)
        {
            case null:
                json.WriteNullValue();
                break;
            case bool b:
                json.WriteBooleanValue(b);
                break;
            case int i:
                json.WriteNumberValue(i);
                break;
            case long l:
                json.WriteNumberValue(l);
                break;
            case double d:
                json.WriteNumberValue(d);
                break;
            case IEnumerable<double> numbers:
                json.WriteStartArray();
                foreach (var number in numbers)
                {
                    json.WriteNumberValue(number);
                }

                json.WriteEndArray();
                break;
            case IEnumerable<string> list:
                json.WriteStartArray();
                foreach (var item in list)
                {
                    json.WriteStringValue(item);
                }

                json.WriteEndArray();
                break;
            default:
                json.WriteStringValue(Convert.ToString(value, CultureInfo.InvariantCulture));
                break;
        }
    }

    /// <summary>Formats a number for the table: thousands separators, no decimals above 100.</summary>
    public static string Number(double? value) => value switch
    {
        null => "-",
        >= 100 => value.Value.ToString("N0", CultureInfo.InvariantCulture),
        _ => value.Value.ToString("0.###", CultureInfo.InvariantCulture),
    };
}
