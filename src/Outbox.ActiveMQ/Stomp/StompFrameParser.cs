using System.Globalization;
using System.Text;

namespace Outbox.ActiveMQ.Stomp;

/// <summary>
/// A strict, incremental STOMP 1.2 frame parser. Bytes are written into it as they arrive
/// (<see cref="GetMemory"/> and <see cref="Advance"/>, or <see cref="Append"/>), in pieces of any size; each
/// <see cref="TryRead"/> returns the next complete frame. End-of-lines between frames are heart-beats
/// (<see cref="HeartBeats"/>).
/// </summary>
/// <remarks>
/// Strict: an unknown command, a header line without a colon, an empty header name, an undefined escape sequence
/// (anything but <c>\r</c>, <c>\n</c>, <c>\c</c>, <c>\\</c>), a bare carriage return, invalid UTF-8, a malformed
/// <c>content-length</c> or a body not followed by NUL is a <see cref="StompProtocolException"/>, and so is a frame
/// larger than the size limit, detected as soon as it is known (a declared <c>content-length</c>) or reached, so the
/// parser never buffers more than the limit plus one read. It throws nothing else. Headers of CONNECT, STOMP and
/// CONNECTED frames are taken literally, as the specification says; every other frame's are unescaped. The first value
/// of a repeated header is the one that counts; the parser keeps all, in order.
/// </remarks>
internal sealed class StompFrameParser
{
    private const byte Lf = (byte)'\n';
    private const byte Cr = (byte)'\r';
    private const byte Nul = 0;
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly int _maxFrameSize;
    private readonly int _maxHeaders;
    private byte[] _buffer;
    private int _start;
    private int _end;

    // The frame being read; offsets are relative to _start.
    private int _headerScan;
    private int _lineStart;
    private int _bodyStart = -1;
    private int _bodyScan;
    private int _contentLength = -1;
    private string _command = "";
    private List<KeyValuePair<string, string>> _headers = [];

    /// <summary>Creates a parser that refuses frames over <paramref name="maxFrameSize"/> bytes (command, headers and body).</summary>
    public StompFrameParser(int maxFrameSize, int maxHeaders = 1000)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxFrameSize, 16);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxHeaders, 1);
        _maxFrameSize = maxFrameSize;
        _maxHeaders = maxHeaders;
        _buffer = new byte[Math.Min(maxFrameSize + 1, 16 * 1024)];
    }

    /// <summary>How many heart-beats (end-of-lines between frames) have been read.</summary>
    public long HeartBeats { get; private set; }

    /// <summary>How many bytes are buffered and not yet part of a returned frame.</summary>
    public int Buffered => _end - _start;

    /// <summary>A buffer of at least <paramref name="sizeHint"/> bytes to read into; call <see cref="Advance"/> with what was written.</summary>
    public Memory<byte> GetMemory(int sizeHint = 8192)
    {
        sizeHint = Math.Max(sizeHint, 1);
        if (_buffer.Length - _end < sizeHint)
        {
            var used = _end - _start;
            if (_buffer.Length - used >= sizeHint && _buffer.Length - used >= _buffer.Length / 2)
            {
                Buffer.BlockCopy(_buffer, _start, _buffer, 0, used);
            }
            else
            {
                var bigger = new byte[Math.Max(_buffer.Length * 2, used + sizeHint)];
                Buffer.BlockCopy(_buffer, _start, bigger, 0, used);
                _buffer = bigger;
            }

            _start = 0;
            _end = used;
        }

        return _buffer.AsMemory(_end);
    }

    /// <summary>Marks <paramref name="count"/> bytes of the last <see cref="GetMemory"/> buffer as written.</summary>
    public void Advance(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, _buffer.Length - _end);
        _end += count;
    }

    /// <summary>Copies <paramref name="data"/> in.</summary>
    public void Append(ReadOnlySpan<byte> data)
    {
        data.CopyTo(GetMemory(data.Length).Span);
        Advance(data.Length);
    }

    /// <summary>Returns the next complete frame, or false when more bytes are needed.</summary>
    /// <exception cref="StompProtocolException">The bytes are not STOMP 1.2, or the frame is over the size limit.</exception>
    public bool TryRead(out StompFrame? frame)
    {
        frame = null;
        if (_bodyStart < 0 && !TryReadHeaders())
        {
            return false;
        }

        var span = _buffer.AsSpan(_start, _end - _start);
        int nul;
        if (_contentLength >= 0)
        {
            if (span.Length < _bodyStart + _contentLength + 1)
            {
                return false;
            }

            nul = _bodyStart + _contentLength;
            if (span[nul] != Nul)
            {
                throw new StompProtocolException($"The body of a {_command} frame (content-length {_contentLength}) is not followed by NUL.");
            }
        }
        else
        {
            var found = span[_bodyScan..].IndexOf(Nul);
            if (found < 0)
            {
                _bodyScan = span.Length;
                CheckSize(span.Length);
                return false;
            }

            nul = _bodyScan + found;
        }

        CheckSize(nul + 1);
        frame = new StompFrame(_command, _headers, span[_bodyStart..nul].ToArray());
        _start += nul + 1;
        _headerScan = 0;
        _lineStart = 0;
        _bodyStart = -1;
        _bodyScan = 0;
        _contentLength = -1;
        _command = "";
        _headers = [];
        if (_start == _end)
        {
            _start = _end = 0;
        }

        return true;
    }

    private bool TryReadHeaders()
    {
        if (_headerScan == 0 && !SkipHeartBeats())
        {
            return false;
        }

        var span = _buffer.AsSpan(_start, _end - _start);
        while (true)
        {
            var found = span[_headerScan..].IndexOf(Lf);
            if (found < 0)
            {
                _headerScan = span.Length;
                CheckSize(span.Length);
                return false;
            }

            var lineStart = _lineStart;
            var lineEnd = _headerScan + found;
            _headerScan = _lineStart = lineEnd + 1;
            CheckSize(_headerScan);
            var length = lineEnd - lineStart;
            if (length > 0 && span[lineEnd - 1] == Cr)
            {
                length--;
            }

            if (length == 0)
            {
                // The blank line after the headers (the first line is never blank: heart-beats were skipped).
                ParseHeaders(span[..lineStart]);
                _bodyStart = _headerScan;
                _bodyScan = _bodyStart;
                if (_contentLength >= 0)
                {
                    CheckSize((long)_bodyStart + _contentLength + 1);
                }

                return true;
            }
        }
    }

    /// <summary>Skips end-of-lines before a frame; false when nothing else is buffered yet.</summary>
    private bool SkipHeartBeats()
    {
        while (_start < _end)
        {
            var b = _buffer[_start];
            if (b == Lf)
            {
                _start++;
                HeartBeats++;
            }
            else if (b == Cr)
            {
                if (_start + 1 >= _end)
                {
                    return false;
                }

                if (_buffer[_start + 1] != Lf)
                {
                    throw new StompProtocolException("A carriage return not followed by a line feed between frames.");
                }

                _start += 2;
                HeartBeats++;
            }
            else
            {
                return true;
            }
        }

        _start = _end = 0;
        return false;
    }

    private void ParseHeaders(ReadOnlySpan<byte> block)
    {
        var headers = new List<KeyValuePair<string, string>>();
        var first = true;
        var unescaped = false;
        while (block.Length > 0)
        {
            var end = block.IndexOf(Lf);
            var line = block[..end];
            block = block[(end + 1)..];
            if (line.Length > 0 && line[^1] == Cr)
            {
                line = line[..^1];
            }

            if (line.Contains(Cr))
            {
                throw new StompProtocolException("A bare carriage return in a frame's command or headers.");
            }

            if (first)
            {
                _command = Decode(line);
                if (!StompCommands.All.Contains(_command))
                {
                    throw new StompProtocolException($"Unknown command '{Shorten(_command)}'.");
                }

                unescaped = StompCommands.IsUnescaped(_command);
                first = false;
                continue;
            }

            var colon = line.IndexOf((byte)':');
            if (colon < 0)
            {
                throw new StompProtocolException($"A header line of a {_command} frame has no colon.");
            }

            if (colon == 0)
            {
                throw new StompProtocolException($"A header of a {_command} frame has an empty name.");
            }

            if (headers.Count == _maxHeaders)
            {
                throw new StompProtocolException($"A {_command} frame has more than {_maxHeaders} headers.");
            }

            var name = Decode(line[..colon]);
            var value = Decode(line[(colon + 1)..]);
            if (!unescaped)
            {
                name = Unescape(name);
                value = Unescape(value);
            }

            headers.Add(new(name, value));
        }

        _contentLength = -1;
        foreach (var (name, value) in headers)
        {
            if (name == "content-length")
            {
                if (value.Length is 0 or > 10 || !value.All(char.IsAsciiDigit)
                    || !int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var length))
                {
                    throw new StompProtocolException($"The content-length '{Shorten(value)}' of a {_command} frame is not a byte count.");
                }

                _contentLength = length;
                break; // the first occurrence counts
            }
        }

        _headers = headers;
    }

    private void CheckSize(long size)
    {
        if (size > _maxFrameSize)
        {
            throw new StompProtocolException($"A frame is larger than the limit of {_maxFrameSize} bytes.");
        }
    }

    private static string Decode(ReadOnlySpan<byte> bytes)
    {
        try
        {
            return StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException ex)
        {
            throw new StompProtocolException("A frame's command or header is not valid UTF-8.", ex);
        }
    }

    /// <summary>Undoes STOMP 1.2 header escaping; any escape but <c>\r \n \c \\</c> is a protocol error.</summary>
    internal static string Unescape(string value)
    {
        var backslash = value.IndexOf('\\', StringComparison.Ordinal);
        if (backslash < 0)
        {
            return value;
        }

        var builder = new StringBuilder(value.Length);
        builder.Append(value, 0, backslash);
        for (var i = backslash; i < value.Length; i++)
        {
            var c = value[i];
            if (c != '\\')
            {
                builder.Append(c);
                continue;
            }

            if (++i == value.Length)
            {
                throw new StompProtocolException("A header ends with a lone backslash.");
            }

            builder.Append(value[i] switch
            {
                'r' => '\r',
                'n' => '\n',
                'c' => ':',
                '\\' => '\\',
                _ => throw new StompProtocolException($"Undefined escape sequence '\\{value[i]}' in a header."),
            });
        }

        return builder.ToString();
    }

    private static string Shorten(string value) => value.Length <= 40 ? value : string.Concat(value.AsSpan(0, 40), "…");
}
