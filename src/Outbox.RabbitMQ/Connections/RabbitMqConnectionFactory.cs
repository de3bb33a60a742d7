using Microsoft.Extensions.Options;
using RabbitMQ.Client;

namespace Outbox.RabbitMQ;

/// <summary>
/// Opens connections from <see cref="RabbitMqOptions"/>. The client's automatic recovery is off: the transport and the
/// consumers reconnect by themselves, for every cause (lost connection, closed channel, cancelled consumer), from a
/// single code path. See docs/architecture.md.
/// </summary>
internal sealed class RabbitMqConnectionFactory(IOptions<RabbitMqOptions> options)
{
    private readonly RabbitMqOptions _options = options.Value;

    public string Endpoint => $"{_options.Uri.Host}:{(_options.Uri.IsDefaultPort ? 5672 : _options.Uri.Port)}{_options.Uri.AbsolutePath}";

    public Task<IConnection> CreateConnectionAsync(string suffix, CancellationToken cancellationToken)
    {
        var factory = new ConnectionFactory
        {
            Uri = _options.Uri,
            ClientProvidedName = $"{_options.ClientName}-{suffix}",
            AutomaticRecoveryEnabled = false,
            TopologyRecoveryEnabled = false,
            RequestedConnectionTimeout = _options.ConnectionTimeout,

            // Never below what a broker accepts: a delivery over the client's limit closes the connection, and the
            // consumer would meet the same message again after every reconnection.
            MaxInboundMessageBodySize = 512 * 1024 * 1024,
        };
        return factory.CreateConnectionAsync(cancellationToken);
    }
}
