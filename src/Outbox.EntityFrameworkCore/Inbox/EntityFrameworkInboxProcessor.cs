using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Outbox.EntityFrameworkCore;

/// <summary>
/// The inbox on EF Core. Per attempt, in a new DI scope with the consumer's own <typeparamref name="TContext"/>, under the
/// context's execution strategy: begin → <c>INSERT ... ON CONFLICT DO NOTHING</c> the inbox row → 0 rows means a
/// duplicate (commit, skip the handler) → else run the handler with that same context → <c>SaveChanges</c> → commit.
/// A handler exception rolls everything back, the inbox row included, so a retry starts clean. A batch
/// (<see cref="InboxConsumerOptions.MaxBatchSize"/>) does the same for several messages in one scope, context and
/// transaction: one multi-row <c>INSERT ... ON CONFLICT DO NOTHING RETURNING</c> of all their inbox rows (the ids it does
/// not return are duplicates), then each new message's handler and <c>SaveChanges</c> in turn, one commit at the end.
/// </summary>
internal sealed class EntityFrameworkInboxProcessor<TContext>(
    string consumerName,
    IServiceScopeFactory scopes,
    InboxHandlerRegistry registry,
    IMessageSerializer serializer,
    TimeProvider timeProvider,
    IOptionsMonitor<InboxConsumerOptions>? options = null) : IInboxProcessor
    where TContext : DbContext
{
    private InboxTables? _tables;

    public async Task<InboxOutcome> ProcessAsync(string consumer, IncomingMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        CheckConsumer(consumer);
        if (!InboxMessageReader.TryRead(consumer, message, registry, serializer, out var read, out var poisonReason))
        {
            try
            {
                var outcome = await DeadLetterAsync(consumer, message, poisonReason, attempts: 0, cancellationToken).ConfigureAwait(false);
                return outcome.Kind is InboxOutcomeKind.Duplicate or InboxOutcomeKind.Refused ? outcome : InboxOutcome.DeadLettered(poisonReason);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                return InboxOutcome.Unavailable(ex);
            }
        }

        var scope = scopes.CreateAsyncScope();
        await using (scope.ConfigureAwait(false))
        {
            var state = new Attempt(this, scope.ServiceProvider, read, message.ReceivedAt ?? timeProvider.GetUtcNow()) { AcceptGap = message.AcceptGap };
            try
            {
                await OutboxTenantDirectory.EnterAsync(scope.ServiceProvider, consumerName, message.TenantId, cancellationToken).ConfigureAwait(false);
                var context = scope.ServiceProvider.GetRequiredService<TContext>();
                state.Context = context;
                return await context.Database.CreateExecutionStrategy()
                    .ExecuteAsync(state, static (_, s, ct) => s.Processor.ProcessOnceAsync(s, ct), verifySucceeded: null, cancellationToken)
                    .ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                throw;
            }
            catch (Exception ex)
            {
                // A database that went away (restart, failover, dropped connection) is not the message's fault, even
                // when it happens after the handler ran (in SaveChanges or the commit): such an attempt must not count
                // towards the message's dead-lettering. Everything was rolled back either way.
                return state.HandlerStarted && !IsTransientDatabaseFailure(ex) ? InboxOutcome.Failed(ex, retryable: true) : InboxOutcome.Unavailable(ex);
            }
        }
    }

    public async Task<InboxOutcome> DeadLetterAsync(string consumer, IncomingMessage message, string reason, int attempts, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        ArgumentException.ThrowIfNullOrEmpty(reason);
        CheckConsumer(consumer);
        var scope = scopes.CreateAsyncScope();
        await using (scope.ConfigureAwait(false))
        {
            await OutboxTenantDirectory.EnterAsync(scope.ServiceProvider, consumerName, message.TenantId, cancellationToken).ConfigureAwait(false);
            var context = scope.ServiceProvider.GetRequiredService<TContext>();
            var state = new DeadLetter(this, context, message, reason, attempts);
            return await context.Database.CreateExecutionStrategy()
                .ExecuteAsync(state, static (_, s, ct) => s.Processor.DeadLetterOnceAsync(s, ct), verifySucceeded: null, cancellationToken)
                .ConfigureAwait(false);
        }
    }

    public async Task<IReadOnlyList<InboxOutcome>?> ProcessBatchAsync(string consumer, IReadOnlyList<IncomingMessage> messages, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(messages);
        CheckConsumer(consumer);
        var read = new InboxMessage[messages.Count];
        for (var i = 0; i < read.Length; i++)
        {
            if (!InboxMessageReader.TryRead(consumer, messages[i], registry, serializer, out read[i], out _))
            {
                return null; // poison: dead-lettered by the one-by-one path
            }

            if (messages[i].TenantId != messages[0].TenantId)
            {
                return null; // one transaction is one database: the one-by-one path writes each in its tenant's
            }
        }

        var scope = scopes.CreateAsyncScope();
        await using (scope.ConfigureAwait(false))
        {
            try
            {
                await OutboxTenantDirectory.EnterAsync(scope.ServiceProvider, consumerName, messages[0].TenantId, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                return null; // the tenant source failed: the one-by-one path reports it per message
            }

            var context = scope.ServiceProvider.GetRequiredService<TContext>();
            var now = timeProvider.GetUtcNow();
            var attempts = new Attempt[read.Length];
            for (var i = 0; i < attempts.Length; i++)
            {
                attempts[i] = new Attempt(this, scope.ServiceProvider, read[i], messages[i].ReceivedAt ?? now) { AcceptGap = messages[i].AcceptGap, Context = context };
            }

            try
            {
                return await context.Database.CreateExecutionStrategy()
                    .ExecuteAsync(attempts, static (_, a, ct) => a[0].Processor.ProcessBatchOnceAsync(a, ct), verifySucceeded: null, cancellationToken)
                    .ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                throw;
            }
            catch (Exception)
            {
                // A handler, the store or the commit failed: everything was rolled back. The one-by-one path retries each
                // message and tells the handler's failures from the store's.
                return null;
            }
        }
    }

    private async Task<InboxOutcome> ProcessOnceAsync(Attempt state, CancellationToken cancellationToken)
    {
        var context = state.Context!;
        context.ChangeTracker.Clear(); // a retry of the execution strategy starts from nothing
        var transaction = await BeginAsync(context, cancellationToken).ConfigureAwait(false);
        await using (transaction.ConfigureAwait(false))
        {
            var outcome = await ProcessInTransactionAsync(state, cancellationToken).ConfigureAwait(false);
            if (outcome.Kind == InboxOutcomeKind.OutOfOrder)
            {
                await transaction.RollbackAsync(cancellationToken).ConfigureAwait(false); // the inbox row goes too
                return outcome;
            }

            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            return outcome;
        }
    }

    private async Task<IReadOnlyList<InboxOutcome>?> ProcessBatchOnceAsync(Attempt[] batch, CancellationToken cancellationToken)
    {
        var context = batch[0].Context!;
        context.ChangeTracker.Clear();
        var outcomes = new InboxOutcome[batch.Length];
        var transaction = await BeginAsync(context, cancellationToken).ConfigureAwait(false);
        await using (transaction.ConfigureAwait(false))
        {
            // One statement records the whole batch; what it did not insert was handled before.
            var fresh = await InsertBatchAsync(context, batch, cancellationToken).ConfigureAwait(false);
            for (var i = 0; i < batch.Length; i++)
            {
                // Each message's own consumer span, current while its handler runs (what it publishes continues it).
                var message = batch[i].Message;
                using (var activity = OutboxTelemetry.StartConsumerActivity(consumerName, message.Context.MessageType, message.Id, message.Context.TraceParent))
                {
                    // Removed once taken: a second copy of one id in the batch is a duplicate of the first.
                    if (!fresh.Remove(message.Id))
                    {
                        outcomes[i] = InboxOutcome.Duplicate;
                        activity?.SetTag("outbox.inbox.duplicate", true);
                        continue;
                    }

                    outcomes[i] = await HandleInTransactionAsync(batch[i], cancellationToken).ConfigureAwait(false);
                }

                if (outcomes[i].Kind == InboxOutcomeKind.OutOfOrder)
                {
                    await transaction.RollbackAsync(cancellationToken).ConfigureAwait(false);
                    return null;
                }

                context.ChangeTracker.Clear(); // saved: the next handler starts from a clean context, as it would alone
            }

            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            return outcomes;
        }
    }

    /// <summary>
    /// Inside the caller's transaction: one multi-row <c>INSERT ... ON CONFLICT DO NOTHING RETURNING</c> of the batch's
    /// inbox rows (a round trip for the batch instead of one per message). Returns the ids it inserted.
    /// </summary>
    private async Task<HashSet<Guid>> InsertBatchAsync(TContext context, Attempt[] batch, CancellationToken cancellationToken)
    {
        var tables = _tables ??= InboxTables.From(context);
        var fresh = new HashSet<Guid>(batch.Length);
        for (var start = 0; start < batch.Length; start += InboxTables.MaxBatchRows)
        {
            var rows = Math.Min(InboxTables.MaxBatchRows, batch.Length - start);
            var parameters = new object[2 + (2 * rows)];
            parameters[0] = consumerName;
            parameters[1] = timeProvider.GetUtcNow().UtcDateTime;
            for (var i = 0; i < rows; i++)
            {
                parameters[2 + (2 * i)] = batch[start + i].Message.Id;
                parameters[3 + (2 * i)] = batch[start + i].ReceivedAt.UtcDateTime;
            }

            var inserted = await context.Database.SqlQueryRaw<Guid>(tables.InsertProcessedBatch(rows), parameters)
                .ToListAsync(cancellationToken).ConfigureAwait(false);
            fresh.UnionWith(inserted);
        }

        return fresh;
    }

    /// <summary>
    /// Begins the attempt's transaction. EF's automatic savepoints (two more round trips around every
    /// <c>SaveChanges</c> in a transaction) are turned off: any failure rolls the whole attempt back anyway.
    /// </summary>
    private static Task<Microsoft.EntityFrameworkCore.Storage.IDbContextTransaction> BeginAsync(TContext context, CancellationToken cancellationToken)
    {
        context.Database.AutoSavepointsEnabled = false;
        return context.Database.BeginTransactionAsync(cancellationToken);
    }

    /// <summary>
    /// Inside the caller's transaction: <c>INSERT ... ON CONFLICT DO NOTHING</c> the inbox row (0 rows: a duplicate,
    /// the handler is skipped), then <see cref="HandleInTransactionAsync"/>. Returns Duplicate, OutOfOrder (the caller
    /// must roll back) or Processed; a handler or database failure throws.
    /// </summary>
    private async Task<InboxOutcome> ProcessInTransactionAsync(Attempt state, CancellationToken cancellationToken)
    {
        var context = state.Context!;
        var tables = _tables ??= InboxTables.From(context);
        state.HandlerStarted = false;
        var inserted = await context.Database.ExecuteSqlRawAsync(
            tables.InsertProcessed,
            [consumerName, state.Message.Id, state.ReceivedAt.UtcDateTime, timeProvider.GetUtcNow().UtcDateTime],
            cancellationToken).ConfigureAwait(false);
        return inserted == 0 ? InboxOutcome.Duplicate : await HandleInTransactionAsync(state, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Inside the caller's transaction, once the message's inbox row is written: the order check, the handler,
    /// <c>SaveChanges</c>. Returns OutOfOrder (the caller must roll back) or Processed; a handler or database failure throws.
    /// </summary>
    private async Task<InboxOutcome> HandleInTransactionAsync(Attempt state, CancellationToken cancellationToken)
    {
        var context = state.Context!;
        var tables = _tables ??= InboxTables.From(context);
        state.HandlerStarted = false;
        if (await CheckOrderAsync(context, tables, state, cancellationToken).ConfigureAwait(false) is { } outOfOrder)
        {
            return outOfOrder;
        }

        state.HandlerStarted = true;
        await state.Message.Handler.InvokeAsync(state.Services, state.Message.Payload, state.Message.Context, cancellationToken).ConfigureAwait(false);
        await context.SaveChangesAsync(cancellationToken).ConfigureAwait(false);
        return InboxOutcome.Processed;
    }

    /// <summary>
    /// For keyed messages with a sequence number: counts a reorder (an older message after a newer one) and, when the
    /// handler enforces order, refuses a message that came ahead of its predecessor. The key's last sequence is raised
    /// in the same transaction as the handler's writes. A key seen for the first time accepts any number.
    /// </summary>
    private async Task<InboxOutcome?> CheckOrderAsync(TContext context, InboxTables tables, Attempt state, CancellationToken cancellationToken)
    {
        var message = state.Message.Context;
        if (message.PartitionKey is not { } key || message.SequenceNumber is not { } sequence || !state.Message.Handler.EnforceOrder)
        {
            return null;
        }

        var last = await context.Database.SqlQueryRaw<long>(tables.SelectSequence, consumerName, key)
            .ToListAsync(cancellationToken).ConfigureAwait(false);
        if (last.Count == 1)
        {
            if (sequence > last[0] + 1 && !state.AcceptGap)
            {
                return InboxOutcome.OutOfOrder(last[0] + 1);
            }

            if (sequence <= last[0])
            {
                OutboxTelemetry.RecordInboxReorder(consumerName);
            }
        }

        await context.Database.ExecuteSqlRawAsync(tables.UpsertSequence, [consumerName, key, sequence], cancellationToken).ConfigureAwait(false);
        return null;
    }

    private async Task<InboxOutcome> DeadLetterOnceAsync(DeadLetter state, CancellationToken cancellationToken)
    {
        var context = state.Context;
        var tables = _tables ??= InboxTables.From(context);
        context.ChangeTracker.Clear();
        var message = state.Message;
        var now = timeProvider.GetUtcNow();
        var transaction = await context.Database.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await using (transaction.ConfigureAwait(false))
        {
            if (InboxMessageReader.TryReadId(message, out var id))
            {
                var inserted = await context.Database.ExecuteSqlRawAsync(
                    tables.InsertDeadLettered,
                    [consumerName, id, (message.ReceivedAt ?? now).UtcDateTime],
                    cancellationToken).ConfigureAwait(false);
                if (inserted == 0)
                {
                    await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                    return InboxOutcome.Duplicate;
                }
            }

            // Bounded: once the consumer holds MaxDeadLetters, nothing is written (the inbox row goes with the rollback)
            // and the transport refuses the delivery, so not even a buggy authorised sender grows the table without limit.
            var cap = options?.Get(consumerName).MaxDeadLetters ?? int.MaxValue;
            var held = (await context.Database.SqlQueryRaw<long>(tables.CountDeadLetters, consumerName, cap)
                .ToListAsync(cancellationToken).ConfigureAwait(false)).Single();
            if (held >= cap)
            {
                await transaction.RollbackAsync(cancellationToken).ConfigureAwait(false);
                return InboxOutcome.Refused(
                    $"Consumer '{consumerName}' holds {held} dead letters, its limit ({InboxConsumerOptions.SectionName}:{consumerName}:MaxDeadLetters): this one was not kept. " +
                    $"Reason it was to be dead-lettered: {state.Reason}");
            }

            context.Set<InboxDeadLetterRecord>().Add(new InboxDeadLetterRecord
            {
                Consumer = consumerName,
                MessageId = Truncate(message.MessageId, 256),
                MessageType = Truncate(message.MessageType, 512),
                PartitionKey = Truncate(message.PartitionKey, 512),
                Payload = message.Payload.ToArray(),
                ContentType = Truncate(message.ContentType, 256),
                Headers = message.Headers.Count == 0
                    ? null
                    : JsonSerializer.Serialize(new Dictionary<string, string>(message.Headers), OutboxJsonContext.Default.DictionaryStringString),
                TraceParent = Truncate(message.TraceParent, 256),
                Reason = state.Reason,
                Attempts = state.Attempts,
                ReceivedAt = message.ReceivedAt?.UtcDateTime,
                DeadLetteredAt = now.UtcDateTime,
            });
            await context.SaveChangesAsync(cancellationToken).ConfigureAwait(false);
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            return InboxOutcome.DeadLettered(state.Reason);
        }
    }

    /// <summary>Whether <paramref name="exception"/> (or one it wraps) says the database connection failed, not the handler.</summary>
    internal static bool IsTransientDatabaseFailure(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is System.Data.Common.DbException { IsTransient: true } or System.Net.Sockets.SocketException or IOException or TimeoutException)
            {
                return true;
            }

            // SQLSTATE classes 08 (connection exception) and 57P (operator intervention: shutdown, crash, restart).
            if (e is System.Data.Common.DbException { SqlState: { } state }
                && (state.StartsWith("08", StringComparison.Ordinal) || state.StartsWith("57P", StringComparison.Ordinal)))
            {
                return true;
            }
        }

        return false;
    }

    private void CheckConsumer(string name)
    {
        if (!string.Equals(name, consumerName, StringComparison.Ordinal))
        {
            throw new ArgumentException($"This inbox processor serves consumer '{consumerName}', not '{name}'.", nameof(name));
        }
    }

    private static string? Truncate(string? value, int max) => value is null || value.Length <= max ? value : value[..max];

    private sealed class Attempt(EntityFrameworkInboxProcessor<TContext> processor, IServiceProvider services, InboxMessage message, DateTimeOffset receivedAt)
    {
        public EntityFrameworkInboxProcessor<TContext> Processor { get; } = processor;

        public IServiceProvider Services { get; } = services;

        public InboxMessage Message { get; } = message;

        public DateTimeOffset ReceivedAt { get; } = receivedAt;

        public TContext? Context { get; set; }

        public bool HandlerStarted { get; set; }

        public bool AcceptGap { get; init; }
    }

    private sealed record DeadLetter(EntityFrameworkInboxProcessor<TContext> Processor, TContext Context, IncomingMessage Message, string Reason, int Attempts);
}
