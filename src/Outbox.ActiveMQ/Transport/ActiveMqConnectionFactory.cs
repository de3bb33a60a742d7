using Microsoft.Extensions.Options;
using Outbox.ActiveMQ.Stomp;

namespace Outbox.ActiveMQ;

/// <summary>Opens STOMP connections from <see cref="ActiveMqOptions"/>; shared by the transport and the consumers.</summary>
internal sealed class ActiveMqConnectionFactory(IOptions<ActiveMqOptions> options, TimeProvider timeProvider)
{
    private readonly ActiveMqOptions _options = options.Value;

    public StompConnectionSettings Settings
    {
        get
        {
            var uri = _options.Uri;
            var tls = uri.Scheme == "stomp+ssl";
            string? user = null, password = null;
            if (!string.IsNullOrEmpty(uri.UserInfo))
            {
                var parts = uri.UserInfo.Split(':', 2);
                user = Uri.UnescapeDataString(parts[0]);
                password = parts.Length > 1 ? Uri.UnescapeDataString(parts[1]) : null;
            }

            return new StompConnectionSettings
            {
                Host = uri.Host,
                Port = uri.IsDefaultPort || uri.Port < 0 ? (tls ? 61614 : 61613) : uri.Port,
                UseTls = tls,
                Login = _options.Login ?? user,
                Passcode = _options.Passcode ?? password,
                VirtualHost = _options.VirtualHost ?? uri.Host,
                HeartBeat = _options.HeartBeat,
                ConnectTimeout = _options.ConnectionTimeout,
                MaxFrameSize = _options.MaxFrameSize,
            };
        }
    }

    public string Endpoint => Settings.Endpoint;

    public Task<StompConnection> OpenAsync(Action<StompFrame>? onMessage, CancellationToken cancellationToken) =>
        StompConnection.OpenAsync(Settings, timeProvider, onMessage, cancellationToken);
}
