using System.Net.Sockets;

namespace Outbox.TestInfrastructure;

/// <summary>
/// Tells within a few seconds whether a Docker engine answers. Testcontainers itself can spend a long time
/// looking for one, so the servers ask here first and fall back to local binaries when nothing answers.
/// </summary>
internal static class DockerProbe
{
    private const string DefaultSocket = "/var/run/docker.sock";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(3);

    private static readonly Lazy<Task<string?>> Result = new(ProbeAsync);

    /// <summary>Null when an engine answered <c>GET /_ping</c>; otherwise why not.</summary>
    public static Task<string?> WhyUnavailableAsync() => Result.Value;

    private static async Task<string?> ProbeAsync()
    {
        var dockerHost = Environment.GetEnvironmentVariable("DOCKER_HOST");
        Uri endpoint;
        if (string.IsNullOrEmpty(dockerHost))
        {
            endpoint = new Uri("unix://" + DefaultSocket);
        }
        else if (!Uri.TryCreate(dockerHost, UriKind.Absolute, out endpoint!) || endpoint.Scheme is not ("unix" or "tcp"))
        {
            return $"DOCKER_HOST '{dockerHost}' is neither unix:// nor tcp://";
        }

        using var handler = new SocketsHttpHandler();
        if (endpoint.Scheme == "unix")
        {
            var socketPath = endpoint.AbsolutePath;
            if (!File.Exists(socketPath))
            {
                return $"the Docker socket {socketPath} does not exist";
            }

            handler.ConnectCallback = async (_, ct) =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), ct);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            };
        }

        // Over a unix socket the host part is ignored; over TCP it is the engine's address.
        var pingUri = endpoint.Scheme == "unix"
            ? new Uri("http://docker/_ping")
            : new UriBuilder("http", endpoint.Host, endpoint.Port, "/_ping").Uri;
        using var client = new HttpClient(handler) { Timeout = Timeout };
        try
        {
            using var response = await client.GetAsync(pingUri);
            return response.IsSuccessStatusCode
                ? null
                : $"the Docker engine at {endpoint} answered /_ping with {(int)response.StatusCode}";
        }
        catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException)
        {
            return $"no Docker engine answered GET /_ping at {endpoint} (timeout {Timeout.TotalSeconds:0} s): {exception.Message}";
        }
    }
}
