namespace Outbox.ActiveMQ.Stomp;

/// <summary>
/// One STOMP 1.2 frame: a command, headers in the order they came (a repeated header's first value counts, as the
/// specification says) and a body.
/// </summary>
internal sealed class StompFrame
{
    public StompFrame(string command, IReadOnlyList<KeyValuePair<string, string>> headers, ReadOnlyMemory<byte> body)
    {
        Command = command;
        Headers = headers;
        Body = body;
    }

    public string Command { get; }

    public IReadOnlyList<KeyValuePair<string, string>> Headers { get; }

    public ReadOnlyMemory<byte> Body { get; }

    /// <summary>The first value of header <paramref name="name"/>, or null.</summary>
    public string? this[string name]
    {
        get
        {
            foreach (var (key, value) in Headers)
            {
                if (string.Equals(key, name, StringComparison.Ordinal))
                {
                    return value;
                }
            }

            return null;
        }
    }

    public override string ToString() => $"{Command} ({Headers.Count} headers, {Body.Length} bytes)";
}

/// <summary>The commands and header names of STOMP 1.2 (and ActiveMQ's extensions) the library uses.</summary>
internal static class StompCommands
{
    public const string Connect = "CONNECT";
    public const string Stomp = "STOMP";
    public const string Connected = "CONNECTED";
    public const string Send = "SEND";
    public const string Subscribe = "SUBSCRIBE";
    public const string Unsubscribe = "UNSUBSCRIBE";
    public const string Ack = "ACK";
    public const string Nack = "NACK";
    public const string Begin = "BEGIN";
    public const string Commit = "COMMIT";
    public const string Abort = "ABORT";
    public const string Disconnect = "DISCONNECT";
    public const string Message = "MESSAGE";
    public const string Receipt = "RECEIPT";
    public const string Error = "ERROR";

    /// <summary>Every command of STOMP 1.2; anything else is a protocol error.</summary>
    public static readonly HashSet<string> All = new(StringComparer.Ordinal)
    {
        Connect, Stomp, Connected, Send, Subscribe, Unsubscribe, Ack, Nack, Begin, Commit, Abort, Disconnect, Message, Receipt, Error,
    };

    /// <summary>The frames whose headers are not escaped (STOMP 1.2, "Value Encoding").</summary>
    public static bool IsUnescaped(string command) => command is Connect or Stomp or Connected;
}
