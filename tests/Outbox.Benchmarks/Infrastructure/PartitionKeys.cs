using System.Globalization;
using Outbox.Benchmarks.Options;

namespace Outbox.Benchmarks.Infrastructure;

/// <summary>
/// Which partition key a benchmark message gets (<c>--keys</c>): none (unordered messages), a unique key per message
/// (the order id: ordering is on but never holds a message back), or N keys in turn (N messages of one key wait for
/// each other: at most N can be in flight).
/// </summary>
public sealed class PartitionKeys
{
    private readonly int _count;

    private PartitionKeys(int count) => _count = count;

    public static PartitionKeys None { get; } = new(0);

    public static PartitionKeys Unique { get; } = new(-1);

    public bool IsNone => _count == 0;

    public bool IsUnique => _count < 0;

    public override string ToString() => _count switch
    {
        0 => "none",
        < 0 => "unique",
        _ => _count.ToString(CultureInfo.InvariantCulture),
    };

    public static PartitionKeys Parse(string text) => text.ToLowerInvariant() switch
    {
        "none" or "0" => None,
        "unique" => Unique,
        _ when int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n is > 0 and <= 10_000_000 => new PartitionKeys(n),
        _ => throw new BenchOptionsException($"Option --keys: '{text}' is not none, unique or a number of keys from 1 to 10000000."),
    };

    /// <summary>The key of the <paramref name="number"/>th message, about order <paramref name="orderId"/>.</summary>
    public string? For(long number, Guid orderId) => _count switch
    {
        0 => null,
        < 0 => orderId.ToString(),
        _ => string.Create(CultureInfo.InvariantCulture, $"customer-{number % _count:D7}"),
    };
}
