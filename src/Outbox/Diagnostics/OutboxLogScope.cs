using System.Collections;

namespace Outbox;

/// <summary>
/// The log scope of one outbox's background work: an <c>outbox.name</c> property, and <c>outbox.tenant</c> for the work
/// of one tenant database, shown by scope-aware log providers (and by OpenTelemetry logging as attributes).
/// </summary>
internal sealed class OutboxLogScope(string name, string? tenant = null) : IReadOnlyList<KeyValuePair<string, object?>>
{
    public KeyValuePair<string, object?> this[int index] => index switch
    {
        0 => new KeyValuePair<string, object?>("outbox.name", name),
        1 when tenant is not null => new KeyValuePair<string, object?>("outbox.tenant", tenant),
        _ => throw new ArgumentOutOfRangeException(nameof(index)),
    };

    public int Count => tenant is null ? 1 : 2;

    public IEnumerator<KeyValuePair<string, object?>> GetEnumerator()
    {
        for (var i = 0; i < Count; i++)
        {
            yield return this[i];
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public override string ToString() => tenant is null ? $"outbox.name:{name}" : $"outbox.name:{name} outbox.tenant:{tenant}";
}
