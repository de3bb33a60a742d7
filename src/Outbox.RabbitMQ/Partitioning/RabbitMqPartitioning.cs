using System.Globalization;
using System.Text;

namespace Outbox.RabbitMQ;

/// <summary>
/// The stable mapping of a message to a partition of a partitioned destination
/// (<see cref="RabbitMqOptions.PartitionedQueues"/>): the same key maps to the same partition in every process, on every
/// platform and in every version of this library.
/// </summary>
/// <remarks>
/// The key's UTF-8 bytes are hashed with 64-bit FNV-1a (offset basis 14695981039346656037, prime 1099511628211), and
/// the hash is mapped to one of the partitions with Lamping and Veach's jump consistent hash ("A Fast, Minimal Memory,
/// Consistent Hash Algorithm", 2014). Jump hash moves as few keys as possible when the partition count changes (from N
/// to N + 1, about 1/(N + 1) of the keys move), but some keys do move: see docs/rabbitmq.md on changing the count.
/// A message without a partition key is mapped by its message id (as its <c>D</c> format text), so its copies (the
/// dispatcher's retries) all go to one partition while unkeyed messages spread evenly.
/// </remarks>
public static class RabbitMqPartitioning
{
    private const ulong FnvOffsetBasis = 14695981039346656037;
    private const ulong FnvPrime = 1099511628211;

    /// <summary>The partition (0 to <paramref name="partitions"/> - 1) of a message with this key and id.</summary>
    /// <param name="partitionKey">The message's partition key, or <see langword="null"/>.</param>
    /// <param name="messageId">The message id, used when there is no partition key.</param>
    /// <param name="partitions">The partition count, at least 1.</param>
    /// <returns>The partition index.</returns>
    public static int PartitionFor(string? partitionKey, Guid messageId, int partitions) =>
        PartitionOf(partitionKey ?? messageId.ToString("D", CultureInfo.InvariantCulture), partitions);

    /// <summary>The partition (0 to <paramref name="partitions"/> - 1) of a partition key.</summary>
    /// <param name="key">The partition key.</param>
    /// <param name="partitions">The partition count, at least 1.</param>
    /// <returns>The partition index.</returns>
    public static int PartitionOf(string key, int partitions)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentOutOfRangeException.ThrowIfLessThan(partitions, 1);
        return JumpConsistentHash(Fnv1a64(key), partitions);
    }

    /// <summary>64-bit FNV-1a of the UTF-8 bytes of <paramref name="text"/>.</summary>
    internal static ulong Fnv1a64(string text)
    {
        var byteCount = Encoding.UTF8.GetByteCount(text);
        var bytes = byteCount <= 256 ? stackalloc byte[byteCount] : new byte[byteCount];
        Encoding.UTF8.GetBytes(text, bytes);
        var hash = FnvOffsetBasis;
        foreach (var b in bytes)
        {
            hash ^= b;
            hash = unchecked(hash * FnvPrime);
        }

        return hash;
    }

    /// <summary>Jump consistent hash: a bucket in [0, <paramref name="buckets"/>) for a 64-bit key.</summary>
    internal static int JumpConsistentHash(ulong key, int buckets)
    {
        long bucket = -1;
        long next = 0;
        while (next < buckets)
        {
            bucket = next;
            key = unchecked((key * 2862933555777941757UL) + 1);
            next = (long)((bucket + 1) * ((double)(1L << 31) / ((key >> 33) + 1)));
        }

        return (int)bucket;
    }
}
