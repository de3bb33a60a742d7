using Outbox.TestInfrastructure;

namespace Outbox.RabbitMQ.Tests.Infrastructure;

/// <summary>
/// A real RabbitMQ (OUTBOX_TEST_RABBITMQ, else Testcontainers, else the local rabbitmq-server) and a real PostgreSQL
/// (OUTBOX_TEST_POSTGRES, else Testcontainers, else a throwaway local cluster). When either cannot be found the tests
/// are skipped with the reason, unless OUTBOX_TEST_REQUIRE_SERVERS is set (as CI does): then they fail.
/// </summary>
public sealed class BrokerFixture
{
    private (RabbitMqServer Broker, PostgresServer Postgres)? _servers;

    public async Task<(RabbitMqServer Broker, PostgresServer Postgres)> AcquireAsync()
    {
        try
        {
            return _servers ??= (
                await RabbitMqServer.AcquireAsync(TestContext.Current.CancellationToken),
                await PostgresServer.AcquireAsync(TestContext.Current.CancellationToken));
        }
        catch (ServerUnavailableException ex) when (!ServerRequirement.Required)
        {
            Assert.Skip($"A server is missing (set {ServerRequirement.EnvironmentVariable}=1 to make this a failure): {ex.Message}");
            throw;
        }
    }
}

/// <summary>
/// Every test of this project runs in this one collection, one at a time: one of them restarts the broker, which
/// would break whatever else was running.
/// </summary>
[CollectionDefinition(Name)]
public sealed class BrokerCollection : ICollectionFixture<BrokerFixture>, ICollectionFixture<Contract.RabbitMqContractFixture>
{
    public const string Name = "RabbitMQ broker";
}
