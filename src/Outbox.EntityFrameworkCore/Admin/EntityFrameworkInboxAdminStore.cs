using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Outbox.EntityFrameworkCore;

/// <summary>
/// The inbox dead letters of <typeparamref name="TContext"/>, read and purged through the context itself (EF Core
/// quotes every identifier and parameterizes every value), so one implementation serves every provider. Each call
/// uses a context from a scope of its own.
/// </summary>
internal sealed class EntityFrameworkInboxAdminStore<TContext>(IServiceScopeFactory scopes) : IInboxAdminStore
    where TContext : DbContext
{
    private bool? _available;

    public async Task<bool> IsAvailableAsync(CancellationToken cancellationToken)
    {
        if (_available is { } known)
        {
            return known;
        }

        var scope = scopes.CreateAsyncScope();
        await using (scope.ConfigureAwait(false))
        {
            var available = InboxTables.IsMapped(scope.ServiceProvider.GetRequiredService<TContext>());
            _available = available;
            return available;
        }
    }

    public async Task<OutboxAdminPage<InboxAdminDeadLetter>> ListDeadLettersAsync(OutboxAdminQuery query, string? consumer, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        query.Validate();
        if (!await IsAvailableAsync(cancellationToken).ConfigureAwait(false))
        {
            return new OutboxAdminPage<InboxAdminDeadLetter>([], null);
        }

        var scope = scopes.CreateAsyncScope();
        await using (scope.ConfigureAwait(false))
        {
            var rows = scope.ServiceProvider.GetRequiredService<TContext>().Set<InboxDeadLetterRecord>().AsNoTracking();
            if (query.After is { } after)
            {
                rows = query.Descending ? rows.Where(x => x.Id < after) : rows.Where(x => x.Id > after);
            }

            if (consumer is not null)
            {
                rows = rows.Where(x => x.Consumer == consumer);
            }

            if (query.MessageType is { } type)
            {
                rows = rows.Where(x => x.MessageType == type);
            }

            if (query.PartitionKey is { } key)
            {
                rows = rows.Where(x => x.PartitionKey == key);
            }

            if (query.From is { } from)
            {
                var fromUtc = from.UtcDateTime;
                rows = rows.Where(x => x.DeadLetteredAt >= fromUtc);
            }

            if (query.To is { } to)
            {
                var toUtc = to.UtcDateTime;
                rows = rows.Where(x => x.DeadLetteredAt < toUtc);
            }

            rows = query.Descending ? rows.OrderByDescending(x => x.Id) : rows.OrderBy(x => x.Id);
            var page = await rows
                .Take(query.PageSize + 1)
                .Select(x => new
                {
                    x.Id,
                    x.Consumer,
                    x.MessageId,
                    x.MessageType,
                    x.PartitionKey,
                    x.ContentType,
                    PayloadLength = x.Payload.Length,
                    x.Reason,
                    x.Attempts,
                    x.ReceivedAt,
                    x.DeadLetteredAt,
                })
                .ToListAsync(cancellationToken)
                .ConfigureAwait(false);
            var items = page.Take(query.PageSize).Select(x => new InboxAdminDeadLetter
            {
                Id = x.Id,
                Consumer = x.Consumer,
                MessageId = x.MessageId,
                MessageType = x.MessageType,
                PartitionKey = x.PartitionKey,
                ContentType = x.ContentType,
                PayloadLength = x.PayloadLength,
                Reason = x.Reason,
                Attempts = x.Attempts,
                ReceivedAt = Utc(x.ReceivedAt),
                DeadLetteredAt = Utc(x.DeadLetteredAt),
            }).ToList();
            return new OutboxAdminPage<InboxAdminDeadLetter>(items, page.Count > query.PageSize ? items[^1].Id : null);
        }
    }

    public async Task<InboxAdminDeadLetter?> GetDeadLetterAsync(long id, CancellationToken cancellationToken)
    {
        if (!await IsAvailableAsync(cancellationToken).ConfigureAwait(false))
        {
            return null;
        }

        var scope = scopes.CreateAsyncScope();
        await using (scope.ConfigureAwait(false))
        {
            var row = await scope.ServiceProvider.GetRequiredService<TContext>().Set<InboxDeadLetterRecord>().AsNoTracking()
                .SingleOrDefaultAsync(x => x.Id == id, cancellationToken)
                .ConfigureAwait(false);
            return row is null ? null : new InboxAdminDeadLetter
            {
                Id = row.Id,
                Consumer = row.Consumer,
                MessageId = row.MessageId,
                MessageType = row.MessageType,
                PartitionKey = row.PartitionKey,
                ContentType = row.ContentType,
                PayloadLength = row.Payload.Length,
                Reason = row.Reason,
                Attempts = row.Attempts,
                ReceivedAt = Utc(row.ReceivedAt),
                DeadLetteredAt = Utc(row.DeadLetteredAt),
                Headers = ParseHeaders(row.Headers),
                TraceParent = row.TraceParent,
                Payload = OutboxAdminPayload.From(row.Payload, row.ContentType),
            };
        }
    }

    public async Task<int> PurgeDeadLettersAsync(IReadOnlyCollection<long> ids, CancellationToken cancellationToken)
    {
        OutboxAdminQuery.ValidateIds(ids);
        if (ids.Count == 0 || !await IsAvailableAsync(cancellationToken).ConfigureAwait(false))
        {
            return 0;
        }

        var list = ids.Distinct().ToList();
        var scope = scopes.CreateAsyncScope();
        await using (scope.ConfigureAwait(false))
        {
            var context = scope.ServiceProvider.GetRequiredService<TContext>();
            var strategy = context.Database.CreateExecutionStrategy();
            return await strategy.ExecuteAsync(
                (Context: context, Ids: list),
                static async (_, state, ct) =>
                {
                    var (context, ids) = state;
                    var transaction = await context.Database.BeginTransactionAsync(ct).ConfigureAwait(false);
                    await using (transaction.ConfigureAwait(false))
                    {
                        // The inbox keeps a marker (processed_at NULL) for every dead-lettered message so that a
                        // redelivery is skipped. Purging a dead letter forgets the message entirely: the marker goes
                        // too, so the message can be replayed (published again) after it was fixed.
                        var markers = await context.Set<InboxDeadLetterRecord>()
                            .Where(x => ids.Contains(x.Id))
                            .Select(x => new { x.Consumer, x.MessageId })
                            .ToListAsync(ct).ConfigureAwait(false);
                        foreach (var marker in markers)
                        {
                            if (Guid.TryParse(marker.MessageId, out var messageId))
                            {
                                await context.Set<InboxRecord>()
                                    .Where(r => r.Consumer == marker.Consumer && r.MessageId == messageId && r.ProcessedAt == null)
                                    .ExecuteDeleteAsync(ct).ConfigureAwait(false);
                            }
                        }

                        var deleted = await context.Set<InboxDeadLetterRecord>().Where(x => ids.Contains(x.Id)).ExecuteDeleteAsync(ct).ConfigureAwait(false);
                        await transaction.CommitAsync(ct).ConfigureAwait(false);
                        return deleted;
                    }
                },
                verifySucceeded: null,
                cancellationToken).ConfigureAwait(false);
        }
    }

    public async Task<int> PurgeDeadLettersBeforeAsync(DateTimeOffset deadLetteredBefore, CancellationToken cancellationToken)
    {
        if (!await IsAvailableAsync(cancellationToken).ConfigureAwait(false))
        {
            return 0;
        }

        var before = deadLetteredBefore.UtcDateTime;
        var scope = scopes.CreateAsyncScope();
        await using (scope.ConfigureAwait(false))
        {
            return await scope.ServiceProvider.GetRequiredService<TContext>().Set<InboxDeadLetterRecord>()
                .Where(x => x.DeadLetteredAt < before)
                .ExecuteDeleteAsync(cancellationToken)
                .ConfigureAwait(false);
        }
    }

    private static DateTimeOffset Utc(DateTime value) => new(DateTime.SpecifyKind(value, DateTimeKind.Utc));

    private static DateTimeOffset? Utc(DateTime? value) => value is { } v ? Utc(v) : null;

    private static Dictionary<string, string> ParseHeaders(string? json)
    {
        if (json is null)
        {
            return [];
        }

        try
        {
            return JsonSerializer.Deserialize(json, OutboxJsonContext.Default.DictionaryStringString) ?? [];
        }
        catch (JsonException)
        {
            return new Dictionary<string, string> { ["(unreadable headers)"] = json };
        }
    }
}
