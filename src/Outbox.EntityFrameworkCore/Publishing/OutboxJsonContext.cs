using System.Text.Json.Serialization;

namespace Outbox.EntityFrameworkCore;

/// <summary>Source-generated JSON for the headers column.</summary>
[JsonSerializable(typeof(IDictionary<string, string>))]
[JsonSerializable(typeof(Dictionary<string, string>))]
internal sealed partial class OutboxJsonContext : JsonSerializerContext;
