using Microsoft.Extensions.DependencyInjection;

namespace Outbox;

/// <summary>
/// The transports of one outbox as the builder recorded them: a default transport (the last <c>Use...</c> call not
/// followed by <c>ForDestinations</c>) and routes, each a transport for the destinations its predicate accepts.
/// </summary>
internal sealed class OutboxTransportRoutes
{
    private readonly List<Route> _routes = [];
    private Type? _previousDefault;
    private Type? _last;

    /// <summary>The transport of destinations no route accepts; <see langword="null"/> when every destination must match a route.</summary>
    public Type? Default { get; private set; }

    public IReadOnlyList<Route> All => _routes;

    public bool IsEmpty => Default is null && _routes.Count == 0;

    /// <summary>A <c>Use...</c> call: <paramref name="transport"/> becomes the default, until a <c>ForDestinations</c> makes it a route.</summary>
    public void Use(Type transport)
    {
        _previousDefault = Default;
        Default = transport;
        _last = transport;
    }

    /// <summary>Makes the transport of the last <c>Use...</c> call a route for the destinations <paramref name="accepts"/> accepts.</summary>
    /// <exception cref="InvalidOperationException">No transport call precedes it, or it was routed already.</exception>
    public void RouteLast(Func<string, bool> accepts, string description)
    {
        if (_last is null)
        {
            throw new InvalidOperationException(
                $"ForDestinations({description}) names the destinations of the transport chosen just before it: call a transport method " +
                "(UseRabbitMq(...), UseHttp(...), UseTransport<T>()) first, e.g. .UseHttp(...).ForDestinations(d => d.StartsWith(\"billing.\")).");
        }

        if (Default == _last)
        {
            Default = _previousDefault;
        }

        _previousDefault = null;
        _routes.Add(new Route(_last, accepts, description));
        _last = null;
    }

    /// <summary>The transport the dispatcher sends through: the default transport itself when there are no routes.</summary>
    public IMessageTransport Build(IServiceProvider services, string outboxName)
    {
        var fallback = Default is null ? null : (IMessageTransport)services.GetRequiredService(Default);
        if (_routes.Count == 0)
        {
            return fallback ?? throw new InvalidOperationException($"Outbox '{outboxName}' has no transport.");
        }

        var routes = _routes.Select(r => new OutboxRoutingTransport.ResolvedRoute((IMessageTransport)services.GetRequiredService(r.Transport), r.Accepts)).ToArray();
        return new OutboxRoutingTransport(outboxName, routes, fallback);
    }

    internal sealed record Route(Type Transport, Func<string, bool> Accepts, string Description);
}
