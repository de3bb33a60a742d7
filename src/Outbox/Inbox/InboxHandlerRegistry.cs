namespace Outbox;

/// <summary>
/// The handlers of one consumer, by logical message type name (the <c>outbox-message-type</c> header). One handler per
/// type and consumer. A keyed singleton, the key being the consumer name.
/// </summary>
internal sealed class InboxHandlerRegistry(string consumer)
{
    private readonly Dictionary<string, InboxHandlerDescriptor> _handlers = new(StringComparer.Ordinal);

    public string Consumer { get; } = consumer;

    public int Count => _handlers.Count;

    public IEnumerable<InboxHandlerDescriptor> Handlers => _handlers.Values;

    public void Add(InboxHandlerDescriptor descriptor)
    {
        if (_handlers.TryGetValue(descriptor.MessageType, out var existing))
        {
            throw new ArgumentException(
                $"Consumer '{Consumer}' already has a handler for message type '{descriptor.MessageType}' ({existing.HandlerType.Name}); " +
                $"one handler per message type and consumer (register {descriptor.HandlerType.Name} under another consumer name).",
                nameof(descriptor));
        }

        _handlers.Add(descriptor.MessageType, descriptor);
    }

    public bool TryGet(string messageType, out InboxHandlerDescriptor descriptor) =>
        _handlers.TryGetValue(messageType, out descriptor!);
}

/// <summary>A registered handler: the message type name, the CLR type to deserialize into, and how to invoke it.</summary>
internal abstract class InboxHandlerDescriptor(string messageType, Type messageClrType, Type handlerType)
{
    public string MessageType { get; } = messageType;

    /// <summary>Whether keyed messages reach this handler strictly in sequence order (see <c>AddHandler(enforceOrder)</c>).</summary>
    public bool EnforceOrder { get; init; }

    public Type MessageClrType { get; } = messageClrType;

    public Type HandlerType { get; } = handlerType;

    /// <summary>Resolves the handler from <paramref name="scope"/> (the message's DI scope) and calls it.</summary>
    public abstract Task InvokeAsync(IServiceProvider scope, object message, MessageContext context, CancellationToken cancellationToken);
}

internal sealed class InboxHandlerDescriptor<TMessage, THandler>(string messageType)
    : InboxHandlerDescriptor(messageType, typeof(TMessage), typeof(THandler))
    where TMessage : notnull
    where THandler : class, IMessageHandler<TMessage>
{
    public override Task InvokeAsync(IServiceProvider scope, object message, MessageContext context, CancellationToken cancellationToken)
    {
        var handler = (THandler?)scope.GetService(typeof(THandler))
            ?? throw new InvalidOperationException($"{typeof(THandler).Name} is not registered in the service provider.");
        return handler.HandleAsync((TMessage)message, context, cancellationToken);
    }
}
