using System.Collections;

namespace Outbox;

/// <summary>
/// The log scope of one outbox's background work: a single <c>outbox.name</c> property, shown by scope-aware log
/// providers (and by OpenTelemetry logging as an attribute).
/// </summary>
internal sealed class OutboxLogScope(string name) : IReadOnlyList<KeyValuePair<string, object?>>
{
    public KeyValuePair<string, object?> this[int index] =>
        index == 0 ? new KeyValuePair<string, object?>("outbox.name", name) : throw new ArgumentOutOfRangeException(nameof(index));

    public int Count => 1;

    public IEnumerator<KeyValuePair<string, object?>> GetEnumerator()
    {
        yield return this[0];
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public override string ToString() => $"outbox.name:{name}";
}
