using System.Globalization;

namespace Outbox;

/// <summary>
/// Turns an <see cref="IncomingMessage"/> into something a handler can take, or says why it is poison: no or
/// malformed message id, no or unknown message type, an unsupported content type, an undeserializable payload.
/// Shared by inbox stores; nothing here touches a database.
/// </summary>
internal static class InboxMessageReader
{
    private const int MaxReasonLength = 4000;

    /// <summary>Reads the message id alone (a dead letter can keep it even when the rest is poison).</summary>
    public static bool TryReadId(IncomingMessage message, out Guid id) =>
        Guid.TryParse(message.MessageId, CultureInfo.InvariantCulture, out id) && id != Guid.Empty;

    public static bool TryRead(
        string consumer,
        IncomingMessage message,
        InboxHandlerRegistry registry,
        IMessageSerializer serializer,
        out InboxMessage read,
        out string poisonReason)
    {
        read = default;
        if (string.IsNullOrWhiteSpace(message.MessageId))
        {
            poisonReason = "The message has no message id (header 'outbox-message-id' or the transport's message id).";
            return false;
        }

        if (!TryReadId(message, out var id))
        {
            poisonReason = Truncate($"The message id '{message.MessageId}' is not a GUID.");
            return false;
        }

        if (string.IsNullOrWhiteSpace(message.MessageType))
        {
            poisonReason = "The message has no message type (header 'outbox-message-type').";
            return false;
        }

        if (!registry.TryGet(message.MessageType, out var descriptor))
        {
            poisonReason = Truncate($"Consumer '{consumer}' has no handler for message type '{message.MessageType}'.");
            return false;
        }

        if (message.ContentType is { Length: > 0 } contentType && !SameMediaType(contentType, serializer.ContentType))
        {
            poisonReason = Truncate($"The content type '{contentType}' is not the serializer's '{serializer.ContentType}'.");
            return false;
        }

        object payload;
        try
        {
            payload = serializer.Deserialize(message.Payload, descriptor.MessageClrType);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            poisonReason = Truncate(
                $"The payload could not be deserialized as {descriptor.MessageClrType.FullName}: {ex.GetType().FullName}: {ex.Message}");
            return false;
        }

        read = new InboxMessage(
            id,
            descriptor,
            payload,
            new MessageContext
            {
                Consumer = consumer,
                MessageId = id,
                MessageType = message.MessageType,
                PartitionKey = message.PartitionKey,
                SequenceNumber = message.SequenceNumber,
                ContentType = message.ContentType,
                Headers = message.Headers,
                TraceParent = message.TraceParent,
                DeliveryAttempt = message.DeliveryAttempt,
                Redelivered = message.Redelivered,
            });
        poisonReason = "";
        return true;
    }

    public static string Truncate(string text) =>
        text.Length <= MaxReasonLength ? text : string.Concat(text.AsSpan(0, MaxReasonLength - 1), "…");

    private static bool SameMediaType(string a, string b)
    {
        static ReadOnlySpan<char> MediaType(string value)
        {
            var span = value.AsSpan();
            var semicolon = span.IndexOf(';');
            return (semicolon >= 0 ? span[..semicolon] : span).Trim();
        }

        return MediaType(a).Equals(MediaType(b), StringComparison.OrdinalIgnoreCase);
    }
}

/// <summary>A message ready for its handler.</summary>
internal readonly record struct InboxMessage(Guid Id, InboxHandlerDescriptor Handler, object Payload, MessageContext Context);
