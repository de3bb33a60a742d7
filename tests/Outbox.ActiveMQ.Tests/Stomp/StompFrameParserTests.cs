using System.Text;
using Outbox.ActiveMQ.Stomp;

namespace Outbox.ActiveMQ.Tests.Stomp;

/// <summary>The frame codec on its own: fragmentation, escaping, heart-beats, ERROR frames, bodies with NULs, limits.</summary>
public sealed class StompFrameParserTests
{
    private static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    private static List<StompFrame> ParseAll(StompFrameParser parser, ReadOnlySpan<byte> data)
    {
        parser.Append(data);
        var frames = new List<StompFrame>();
        while (parser.TryRead(out var frame))
        {
            frames.Add(frame!);
        }

        return frames;
    }

    [Fact]
    public void TryRead_FrameArrivingOneByteAtATime_IsReadOnceComplete()
    {
        var wire = Bytes("MESSAGE\ndestination:/queue/a\nmessage-id:1\nsubscription:0\n\nhello\0");
        var parser = new StompFrameParser(1024);
        var frames = new List<StompFrame>();
        for (var i = 0; i < wire.Length; i++)
        {
            frames.AddRange(ParseAll(parser, wire.AsSpan(i, 1)));
            Assert.Equal(i == wire.Length - 1 ? 1 : 0, frames.Count);
        }

        var frame = Assert.Single(frames);
        Assert.Equal("MESSAGE", frame.Command);
        Assert.Equal("/queue/a", frame["destination"]);
        Assert.Equal("hello", Encoding.UTF8.GetString(frame.Body.Span));
        Assert.Equal(0, parser.Buffered);
    }

    [Fact]
    public void TryRead_SeveralFramesInOneRead_AreAllReturnedInOrder()
    {
        var parser = new StompFrameParser(1024);
        var frames = ParseAll(parser, Bytes("RECEIPT\nreceipt-id:1\n\n\0\nRECEIPT\nreceipt-id:2\n\n\0RECEIPT\nreceipt-id:3\n\n\0"));
        Assert.Equal(["1", "2", "3"], frames.Select(f => f["receipt-id"]));
    }

    [Fact]
    public void TryRead_EndOfLinesBetweenFrames_AreCountedAsHeartBeats()
    {
        var parser = new StompFrameParser(1024);
        Assert.Empty(ParseAll(parser, Bytes("\n\r\n\n")));
        Assert.Equal(3, parser.HeartBeats);
        var frame = Assert.Single(ParseAll(parser, Bytes("\r\nRECEIPT\r\nreceipt-id:9\r\n\r\n\0\n")));
        Assert.Equal("9", frame["receipt-id"]);
        Assert.Equal(5, parser.HeartBeats);
    }

    [Fact]
    public void TryRead_CarriageReturnSplitFromItsLineFeed_WaitsForTheNextByte()
    {
        var parser = new StompFrameParser(1024);
        Assert.Empty(ParseAll(parser, Bytes("\r")));
        Assert.Empty(ParseAll(parser, Bytes("\n")));
        Assert.Equal(1, parser.HeartBeats);
    }

    [Fact]
    public void TryRead_EscapedHeaders_AreUnescaped()
    {
        var parser = new StompFrameParser(1024);
        var frame = Assert.Single(ParseAll(parser, Bytes("MESSAGE\nkey\\cname:a\\cb\\\\c\\nd\\re\n\n\0")));
        Assert.Equal("a:b\\c\nd\re", frame["key:name"]);
    }

    [Fact]
    public void TryRead_ConnectedFrame_HeadersAreTakenLiterally()
    {
        var parser = new StompFrameParser(1024);
        var frame = Assert.Single(ParseAll(parser, Bytes("CONNECTED\nversion:1.2\nsession:ID:host-1:2\nserver:a\\b\n\n\0")));
        Assert.Equal("ID:host-1:2", frame["session"]);
        Assert.Equal("a\\b", frame["server"]);
    }

    [Fact]
    public void TryRead_RepeatedHeader_TheFirstValueCounts()
    {
        var parser = new StompFrameParser(1024);
        var frame = Assert.Single(ParseAll(parser, Bytes("MESSAGE\nfoo:World\nfoo:Hello\n\n\0")));
        Assert.Equal("World", frame["foo"]);
        Assert.Equal(2, frame.Headers.Count);
    }

    [Fact]
    public void TryRead_ContentLengthBodyWithNuls_IsReadWhole()
    {
        var body = new byte[] { 1, 0, 2, 0, 0, 3 };
        var wire = new List<byte>(Bytes("MESSAGE\ncontent-length:6\n\n"));
        wire.AddRange(body);
        wire.Add(0);
        var parser = new StompFrameParser(1024);
        var frames = new List<StompFrame>();
        foreach (var chunk in wire.Chunk(3))
        {
            frames.AddRange(ParseAll(parser, chunk));
        }

        Assert.Equal(body, Assert.Single(frames).Body.ToArray());
    }

    [Fact]
    public void TryRead_ErrorFrame_KeepsItsMessageReceiptIdAndBody()
    {
        var parser = new StompFrameParser(1024);
        var frame = Assert.Single(ParseAll(parser, Bytes("ERROR\nreceipt-id:77\nmessage:malformed frame received\ncontent-type:text/plain\ncontent-length:11\n\nbad command\0")));
        Assert.Equal("ERROR", frame.Command);
        Assert.Equal("77", frame["receipt-id"]);
        Assert.Equal("malformed frame received (bad command)", StompConnection.Describe(frame));
    }

    [Theory]
    [InlineData("BOGUS\n\n\0", "Unknown command")]
    [InlineData("MESSAGE\nno-colon\n\n\0", "no colon")]
    [InlineData("MESSAGE\n:value\n\n\0", "empty name")]
    [InlineData("MESSAGE\nkey:a\\tb\n\n\0", "Undefined escape")]
    [InlineData("MESSAGE\nkey:ab\\\n\n\0", "lone backslash")]
    [InlineData("MESSAGE\nkey:a\rb\n\n\0", "bare carriage return")]
    [InlineData("MESSAGE\ncontent-length:-1\n\n\0", "not a byte count")]
    [InlineData("MESSAGE\ncontent-length:abc\n\n\0", "not a byte count")]
    [InlineData("MESSAGE\ncontent-length:2\n\nabc\0", "not followed by NUL")]
    [InlineData("\rX", "carriage return not followed")]
    public void TryRead_MalformedFrame_ThrowsAProtocolException(string wire, string reason)
    {
        var parser = new StompFrameParser(1024);
        var error = Assert.Throws<StompProtocolException>(() => ParseAll(parser, Bytes(wire)));
        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TryRead_InvalidUtf8InAHeader_ThrowsAProtocolException()
    {
        var parser = new StompFrameParser(1024);
        byte[] wire = [.. Bytes("MESSAGE\nkey:"), 0xC3, 0x28, .. Bytes("\n\n\0")];
        Assert.Throws<StompProtocolException>(() => ParseAll(parser, wire));
    }

    [Fact]
    public void TryRead_DeclaredContentLengthOverTheLimit_FailsBeforeTheBodyArrives()
    {
        var parser = new StompFrameParser(1024);
        var error = Assert.Throws<StompProtocolException>(() => ParseAll(parser, Bytes("MESSAGE\ncontent-length:5000\n\n")));
        Assert.Contains("limit of 1024", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TryRead_FrameWithoutNulGrowingPastTheLimit_FailsWithoutBufferingMore()
    {
        var parser = new StompFrameParser(1024);
        ParseAll(parser, Bytes("MESSAGE\n\n"));
        Assert.Throws<StompProtocolException>(() =>
        {
            for (var i = 0; i < 100; i++)
            {
                ParseAll(parser, new byte[100].Select(_ => (byte)'x').ToArray());
            }
        });
        Assert.True(parser.Buffered <= 1024 + 100, $"{parser.Buffered} bytes buffered");
    }

    [Fact]
    public void TryRead_HeaderLineGrowingPastTheLimit_Fails()
    {
        var parser = new StompFrameParser(1024);
        Assert.Throws<StompProtocolException>(() => ParseAll(parser, Bytes("MESSAGE\nkey:" + new string('v', 2000))));
    }

    [Fact]
    public void Write_ThenParse_RoundTripsHeadersThatNeedEscapingAndABodyWithNuls()
    {
        var headers = new List<KeyValuePair<string, string>>
        {
            new("destination", "/queue/a:b"),
            new("weird\\name:x", "line1\nline2\r\\end:"),
            new("unicode", "ünïcødé ✓"),
        };
        byte[] body = [0, 1, 0, 255, 0];
        var wire = StompFrameWriter.Write(StompCommands.Send, headers, body);
        var frame = Assert.Single(ParseAll(new StompFrameParser(1024), wire));
        Assert.Equal("SEND", frame.Command);
        Assert.Equal(headers, frame.Headers.Where(h => h.Key != "content-length"));
        Assert.Equal("5", frame["content-length"]);
        Assert.Equal(body, frame.Body.ToArray());
    }

    [Fact]
    public void Write_ConnectFrameWithAHeaderThatWouldNeedEscaping_IsRefused()
    {
        Assert.Throws<ArgumentException>(() => StompFrameWriter.Write(StompCommands.Connect, [new("passcode", "a\nb")]));
    }

    [Theory]
    [InlineData(10_000, "0,0", 0, 0)]
    [InlineData(10_000, "5000,20000", 20_000, 10_000)]
    [InlineData(10_000, "30000,1000", 10_000, 30_000)]
    [InlineData(0, "5000,5000", 0, 0)]
    [InlineData(10_000, null, 0, 0)]
    public void NegotiateHeartBeats_ClientAndServerIntervals_FollowTheSpecification(int clientMs, string? server, int sendMs, int expectMs)
    {
        var (send, expect) = StompConnection.NegotiateHeartBeats(TimeSpan.FromMilliseconds(clientMs), server);
        Assert.Equal(TimeSpan.FromMilliseconds(sendMs), send);
        Assert.Equal(TimeSpan.FromMilliseconds(expectMs), expect);
    }

    [Fact]
    public void NegotiateHeartBeats_MalformedServerHeader_ThrowsAProtocolException()
    {
        Assert.Throws<StompProtocolException>(() => StompConnection.NegotiateHeartBeats(TimeSpan.FromSeconds(1), "fast"));
    }
}
