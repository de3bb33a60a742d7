using System.Buffers;
using System.Globalization;
using System.Text;

namespace Outbox.ActiveMQ.Stomp;

/// <summary>
/// Serializes STOMP 1.2 frames: headers escaped (except in CONNECT and STOMP frames), a <c>content-length</c> for every
/// frame with a body (so a body may hold NUL bytes), the body, NUL.
/// </summary>
internal static class StompFrameWriter
{
    /// <summary>A heart-beat: one end-of-line.</summary>
    public static readonly byte[] HeartBeat = "\n"u8.ToArray();

    public static byte[] Write(string command, IReadOnlyList<KeyValuePair<string, string>> headers, ReadOnlySpan<byte> body = default)
    {
        var writer = new ArrayBufferWriter<byte>(256 + body.Length);
        Write(writer, command, headers, body);
        return writer.WrittenSpan.ToArray();
    }

    public static void Write(IBufferWriter<byte> writer, string command, IReadOnlyList<KeyValuePair<string, string>> headers, ReadOnlySpan<byte> body = default)
    {
        if (!StompCommands.All.Contains(command))
        {
            throw new ArgumentException($"'{command}' is not a STOMP 1.2 command.", nameof(command));
        }

        var literal = StompCommands.IsUnescaped(command);
        WriteText(writer, command);
        WriteByte(writer, (byte)'\n');
        foreach (var (name, value) in headers)
        {
            if (name.Length == 0 || name == "content-length")
            {
                throw new ArgumentException(name.Length == 0 ? "A header name is empty." : "content-length is written by the frame writer.", nameof(headers));
            }

            if (literal && (name.AsSpan().IndexOfAny(":\r\n") >= 0 || value.AsSpan().IndexOfAny("\r\n") >= 0))
            {
                throw new ArgumentException($"A {command} frame's headers cannot be escaped; '{name}' holds a colon or an end-of-line.", nameof(headers));
            }

            WriteText(writer, literal ? name : Escape(name));
            WriteByte(writer, (byte)':');
            WriteText(writer, literal ? value : Escape(value));
            WriteByte(writer, (byte)'\n');
        }

        if (body.Length > 0 || command == StompCommands.Send)
        {
            WriteText(writer, "content-length:");
            WriteText(writer, body.Length.ToString(CultureInfo.InvariantCulture));
            WriteByte(writer, (byte)'\n');
        }

        WriteByte(writer, (byte)'\n');
        writer.Write(body);
        WriteByte(writer, 0);
    }

    /// <summary>STOMP 1.2 header escaping: backslash, carriage return, line feed and colon.</summary>
    internal static string Escape(string value)
    {
        if (value.AsSpan().IndexOfAny("\\\r\n:") < 0)
        {
            return value;
        }

        var builder = new StringBuilder(value.Length + 8);
        foreach (var c in value)
        {
            switch (c)
            {
                case '\\': builder.Append(@"\\"); break;
                case '\r': builder.Append(@"\r"); break;
                case '\n': builder.Append(@"\n"); break;
                case ':': builder.Append(@"\c"); break;
                default: builder.Append(c); break;
            }
        }

        return builder.ToString();
    }

    private static void WriteText(IBufferWriter<byte> writer, string text)
    {
        var span = writer.GetSpan(Encoding.UTF8.GetMaxByteCount(text.Length));
        writer.Advance(Encoding.UTF8.GetBytes(text, span));
    }

    private static void WriteByte(IBufferWriter<byte> writer, byte value)
    {
        writer.GetSpan(1)[0] = value;
        writer.Advance(1);
    }
}
