using System.Text;
using Outbox.ActiveMQ.Stomp;

namespace Outbox.ActiveMQ.Tests.Stomp;

/// <summary>
/// Random bytes, and valid frames with random bytes changed, in random pieces: the parser returns frames or throws its
/// own <see cref="StompProtocolException"/>, nothing else; it always finishes; it never buffers much more than its limit.
/// </summary>
public sealed class StompFrameParserFuzzTests
{
    private const int Limit = 4096;

    private static readonly byte[][] Seeds =
    [
        Encoding.UTF8.GetBytes("MESSAGE\ndestination:/queue/a\nack:ID\\c1\nsubscription:0\n\nbody\0"),
        Encoding.UTF8.GetBytes("RECEIPT\nreceipt-id:1\n\n\0\n\n"),
        Encoding.UTF8.GetBytes("ERROR\nmessage:bad\ncontent-length:3\n\nabc\0"),
        Encoding.UTF8.GetBytes("CONNECTED\nversion:1.2\nheart-beat:0,0\n\n\0"),
        StompFrameWriter.Write(StompCommands.Message, [new("k\\:", "v\n\r:")], new byte[] { 0, 0, 1 }),
    ];

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void TryRead_RandomInput_ReturnsFramesOrThrowsItsOwnProtocolExceptionOnly(int seed)
    {
        var random = new Random(seed);
        var frames = 0;
        var errors = 0;
        for (var round = 0; round < 3000; round++)
        {
            var input = round % 3 == 0 ? RandomBytes(random) : Mutate(random, Seeds[random.Next(Seeds.Length)]);
            var parser = new StompFrameParser(Limit, maxHeaders: 64);
            try
            {
                var offset = 0;
                while (offset < input.Length)
                {
                    var size = Math.Min(input.Length - offset, 1 + random.Next(64));
                    parser.Append(input.AsSpan(offset, size));
                    offset += size;
                    var reads = 0;
                    while (parser.TryRead(out var frame))
                    {
                        Assert.NotNull(frame);
                        Assert.True(++reads <= input.Length, "more frames than bytes: the parser loops");
                        frames++;
                    }

                    Assert.True(parser.Buffered <= Limit + 64, $"{parser.Buffered} bytes buffered, over the limit");
                }
            }
            catch (StompProtocolException)
            {
                errors++;
            }
        }

        Assert.True(frames > 0 && errors > 0, $"the inputs should produce both frames ({frames}) and protocol errors ({errors})");
    }

    [Fact]
    public void TryRead_EndlessStreamWithoutNul_FailsAtTheLimit()
    {
        var random = new Random(7);
        var parser = new StompFrameParser(Limit);
        parser.Append("MESSAGE\n\n"u8);
        var fed = 0;
        var chunk = new byte[500];
        Assert.Throws<StompProtocolException>((Action)(() =>
        {
            while (true)
            {
                random.NextBytes(chunk);
                for (var i = 0; i < chunk.Length; i++)
                {
                    chunk[i] = chunk[i] == 0 ? (byte)1 : chunk[i];
                }

                parser.Append(chunk);
                fed += chunk.Length;
                Assert.True(fed < 10 * Limit, "the parser kept buffering past its limit");
                parser.TryRead(out _);
            }
        }));
    }

    private static byte[] RandomBytes(Random random)
    {
        var bytes = new byte[random.Next(1, 600)];
        random.NextBytes(bytes);
        return bytes;
    }

    private static byte[] Mutate(Random random, byte[] seed)
    {
        var repeated = Enumerable.Repeat(seed, random.Next(1, 4)).SelectMany(b => b).ToList();
        var changes = random.Next(1, 4);
        for (var i = 0; i < changes && repeated.Count > 0; i++)
        {
            var at = random.Next(repeated.Count);
            switch (random.Next(3))
            {
                case 0: repeated[at] = (byte)random.Next(256); break;
                case 1: repeated.RemoveAt(at); break;
                default: repeated.Insert(at, (byte)"\n\r:\\\0c"[random.Next(6)]); break;
            }
        }

        return [.. repeated];
    }
}
