namespace Outbox;

/// <summary>
/// Turns message objects into payload bytes and back. The default is <see cref="SystemTextJsonMessageSerializer"/>;
/// register another with <c>OutboxBuilder.UseSerializer</c>.
/// </summary>
public interface IMessageSerializer
{
    /// <summary>The content type written with every payload, for example <c>application/json</c>.</summary>
    string ContentType { get; }

    /// <summary>Serializes <paramref name="message"/> as <paramref name="type"/>.</summary>
    byte[] Serialize(object message, Type type);

    /// <summary>Reads a payload as <paramref name="type"/>. Throws when the payload is malformed.</summary>
    object Deserialize(ReadOnlyMemory<byte> payload, Type type);
}
