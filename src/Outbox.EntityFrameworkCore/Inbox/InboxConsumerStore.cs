namespace Outbox.EntityFrameworkCore;

/// <summary>Which DbContext holds a consumer's inbox (a keyed marker, the key being the consumer name).</summary>
internal sealed record InboxConsumerStore(Type ContextType);
