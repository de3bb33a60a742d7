using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Outbox.Kafka.Tests;

/// <summary>Start-up validation of the Kafka options (no servers needed).</summary>
public sealed class KafkaOptionsTests
{
    [Fact]
    public void Validate_Defaults_Succeed()
    {
        Assert.True(new KafkaOptionsValidator().Validate(null, new KafkaOptions()).Succeeded);
    }

    [Theory]
    [InlineData("localhost", "BootstrapServers")]
    [InlineData("broker-1:9092,broker-2", "BootstrapServers")]
    public void Validate_BadBootstrapServers_FailNamingTheKey(string servers, string key)
    {
        var result = new KafkaOptionsValidator().Validate(null, new KafkaOptions { BootstrapServers = servers });

        Assert.True(result.Failed);
        Assert.Contains($"Outbox:Kafka:{key}", result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_ProtectedProperty_FailsNamingIt()
    {
        var options = new KafkaOptions();
        options.Properties["enable.idempotence"] = "false";

        var result = new KafkaOptionsValidator().Validate(null, options);

        Assert.Contains("Outbox:Kafka:Properties:enable.idempotence", result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_IllegalMappedTopic_FailsNamingTheDestination()
    {
        var options = new KafkaOptions();
        options.Topics["Orders.OrderPlaced"] = "orders placed";

        var result = new KafkaOptionsValidator().Validate(null, options);

        Assert.Contains("Outbox:Kafka:Topics:Orders.OrderPlaced", result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void ConsumerValidate_NoTopic_FailsNamingTheConsumersKey()
    {
        var result = new KafkaConsumerOptionsValidator().Validate("payments", new KafkaConsumerOptions());

        Assert.Contains("Outbox:Kafka:Consumers:payments:Topics", result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void UseKafka_RegisteredTwice_OneTransportAndValidator()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddOutbox().UseKafka().UseKafka();

        Assert.Single(services, d => d.ServiceType == typeof(IValidateOptions<KafkaOptions>) && d.ImplementationType == typeof(KafkaOptionsValidator));
        Assert.Single(services, d => d.ServiceType == typeof(KafkaTransport));
    }

    [Fact]
    public void ResolveTopic_MappingThenDestination()
    {
        var options = new KafkaOptions();
        options.Topics["a"] = "topic-a";

        Assert.Equal("topic-a", options.ResolveTopic(new OutboxMessage { Position = 1, MessageId = Guid.NewGuid(), Destination = "a", MessageType = "T", Payload = Array.Empty<byte>(), ContentType = "x", CreatedAt = DateTimeOffset.UtcNow }));
        Assert.Equal("b", options.ResolveTopic(new OutboxMessage { Position = 1, MessageId = Guid.NewGuid(), Destination = "b", MessageType = "T", Payload = Array.Empty<byte>(), ContentType = "x", CreatedAt = DateTimeOffset.UtcNow }));
    }
}
