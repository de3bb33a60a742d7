using Microsoft.Extensions.Options;

namespace Outbox.RabbitMQ.Tests.Partitioning;

/// <summary>The key → partition mapping: fixed values, spread, and what the options accept.</summary>
public sealed class RabbitMqPartitioningTests
{
    // Computed independently (a few lines of Python: FNV-1a 64 over the UTF-8 bytes, then Lamping and Veach's jump
    // consistent hash). Changing any of these would move keys between partitions in running systems: never change them.
    [Theory]
    [InlineData("", 0xcbf29ce484222325UL)]
    [InlineData("a", 0xaf63dc4c8601ec8cUL)]
    [InlineData("customer-1", 0x66030aab83c70157UL)]
    [InlineData("Zürich", 0x0ef841596f67fdc0UL)]
    public void Fnv1a64_KnownInputs_GivesTheReferenceHash(string key, ulong expected) =>
        Assert.Equal(expected, RabbitMqPartitioning.Fnv1a64(key));

    [Theory]
    [InlineData("", new[] { 0, 1, 1, 13, 266 })]
    [InlineData("a", new[] { 0, 1, 2, 12, 163 })]
    [InlineData("customer-1", new[] { 0, 0, 0, 13, 832 })]
    [InlineData("customer-42", new[] { 0, 1, 1, 1, 478 })]
    [InlineData("order-7f3a", new[] { 0, 0, 0, 12, 856 })]
    [InlineData("Zürich", new[] { 0, 1, 1, 13, 979 })]
    public void PartitionOf_KnownKeys_GivesTheReferencePartitionForEachCount(string key, int[] expected)
    {
        int[] counts = [1, 2, 8, 16, 1000];
        Assert.Equal(expected, counts.Select(n => RabbitMqPartitioning.PartitionOf(key, n)).ToArray());
    }

    [Fact]
    public void PartitionFor_NoKey_UsesTheMessageIdText()
    {
        var id = Guid.Parse("00000000-0000-0000-0000-000000000001");
        Assert.Equal(0x7c384b6218f2983eUL, RabbitMqPartitioning.Fnv1a64(id.ToString("D")));
        Assert.Equal(81, RabbitMqPartitioning.PartitionFor(null, id, 1000));
        Assert.Equal(RabbitMqPartitioning.PartitionOf("customer-42", 16), RabbitMqPartitioning.PartitionFor("customer-42", id, 16));
    }

    [Fact]
    public void PartitionOf_TenThousandKeys_SpreadEvenlyOverEightPartitions()
    {
        var counts = new int[8];
        for (var i = 0; i < 10_000; i++)
        {
            counts[RabbitMqPartitioning.PartitionOf($"customer-{i}", 8)]++;
        }

        // 1,250 each if perfectly even; a decent hash stays well within ±15 %.
        Assert.All(counts, c => Assert.InRange(c, 1_060, 1_440));
    }

    [Fact]
    public void PartitionOf_GrowingFromEightToNinePartitions_MovesOnlyKeysToTheNewPartition()
    {
        var moved = 0;
        for (var i = 0; i < 10_000; i++)
        {
            var before = RabbitMqPartitioning.PartitionOf($"customer-{i}", 8);
            var after = RabbitMqPartitioning.PartitionOf($"customer-{i}", 9);
            if (before != after)
            {
                Assert.Equal(8, after); // jump hash: a key either stays or moves to the new partition
                moved++;
            }
        }

        Assert.InRange(moved, 900, 1_330); // about 1/9
    }

    [Fact]
    public void PartitionOf_ZeroPartitions_Throws() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => RabbitMqPartitioning.PartitionOf("k", 0));

    [Fact]
    public void QueueName_Partition_IsNameDotNumber()
    {
        var definition = new RabbitMqPartitionedQueueDefinition { Name = "payments", Partitions = 8 };
        Assert.Equal("payments.7", definition.QueueName(7));
        Assert.Equal("payments", definition.ExchangeName);
        Assert.Equal("orders", new RabbitMqPartitionedQueueDefinition { Name = "payments", Exchange = "orders" }.ExchangeName);
    }

    [Fact]
    public void Validate_BadPartitionedQueues_NamesEachConfigurationKey()
    {
        var options = new RabbitMqOptions()
            .AddExchange("orders")
            .Partition("payments", 0)
            .Partition("shipping", 8, exchange: "orders")
            .Partition("billing", 4, exchange: "events")
            .Partition("audit", 8, exchange: "events");
        options.PartitionedQueues[3].QueueType = "stream";

        var result = new RabbitMqOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        var failures = result.Failures!.ToList();
        Assert.Contains(failures, f => f.StartsWith("Outbox:RabbitMQ:PartitionedQueues:0:Partitions must be between 1 and 1024", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("Outbox:RabbitMQ:PartitionedQueues:1: the exchange 'orders' is declared by the partitioned queue", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("Outbox:RabbitMQ:PartitionedQueues:3:Partitions is 8, but another partitioned queue on exchange 'events' has 4", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("Outbox:RabbitMQ:PartitionedQueues:3:QueueType 'stream'", StringComparison.Ordinal));
        Assert.Equal(4, failures.Count);
    }

    [Fact]
    public void Validate_SamePartitionCountOnASharedExchange_Succeeds()
    {
        var options = new RabbitMqOptions().Partition("billing", 4, exchange: "events").Partition("audit", 4, exchange: "events");
        Assert.Equal(ValidateOptionsResult.Success, new RabbitMqOptionsValidator().Validate(null, options));
    }
}
