using System.Text.Json;

namespace Outbox;

/// <summary>The default serializer: UTF-8 JSON through <see cref="System.Text.Json"/>.</summary>
public sealed class SystemTextJsonMessageSerializer : IMessageSerializer
{
    /// <summary>A shared instance using <see cref="JsonSerializerDefaults.Web"/>.</summary>
    public static SystemTextJsonMessageSerializer Default { get; } = new(new JsonSerializerOptions(JsonSerializerDefaults.Web));

    private readonly JsonSerializerOptions _options;

    /// <summary>Creates a serializer with the given options.</summary>
    public SystemTextJsonMessageSerializer(JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
    }

    /// <inheritdoc />
    public string ContentType => "application/json";

    /// <inheritdoc />
    public byte[] Serialize(object message, Type type) => JsonSerializer.SerializeToUtf8Bytes(message, type, _options);

    /// <inheritdoc />
    public object Deserialize(ReadOnlyMemory<byte> payload, Type type) =>
        JsonSerializer.Deserialize(payload.Span, type, _options)
        ?? throw new JsonException($"The payload deserialized to null for type '{type.FullName}'.");
}
