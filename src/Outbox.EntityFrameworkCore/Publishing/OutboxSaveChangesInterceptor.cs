using System.Data.Common;
using System.Runtime.CompilerServices;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.EntityFrameworkCore.Metadata;
using Microsoft.EntityFrameworkCore.Storage;

namespace Outbox.EntityFrameworkCore;

/// <summary>
/// Added by <c>UseOutbox</c>. Two jobs around <c>SaveChanges</c>:
/// <list type="number">
/// <item>Before the rows are written, gives every keyed message its per-key sequence number by incrementing the key's
/// counter row (<see cref="OutboxSequenceRecord"/>) in the SAME transaction: the message and its number commit or
/// roll back together. When no transaction is open, it opens one around the whole <c>SaveChanges</c>. The counter
/// row's lock also makes concurrent publishers of one key commit in sequence order.</item>
/// <item>After the unit of work has COMMITTED, wakes this process's dispatcher (<see cref="OutboxSignal"/>): right
/// after <c>SaveChanges</c> when no explicit transaction is open, otherwise when that transaction commits. Never
/// inside the business transaction, and nothing is signalled on rollback.</item>
/// </list>
/// </summary>
internal sealed class OutboxSaveChangesInterceptor(OutboxSignal? signal) : ISaveChangesInterceptor, IDbTransactionInterceptor
{
    private static readonly ConditionalWeakTable<DbContext, PublishState> States = new();
    private static readonly ConditionalWeakTable<IModel, string> SequenceUpserts = new();

    /// <summary>Called by <c>Publish</c> for every message added to <paramref name="context"/>.</summary>
    public static void Published(DbContext context, OutboxRecord record)
    {
        var state = States.GetValue(context, static _ => new PublishState());
        state.Pending++;
        if (record.PartitionKey is not null)
        {
            state.Keyed.Add(record);
        }
    }

    /// <summary>
    /// Forgets <paramref name="context"/>'s publishing state (a pooled context returned to its pool): messages counted
    /// but never saved, keyed messages awaiting numbers, and a transaction opened for them that never committed.
    /// </summary>
    public static void Reset(DbContext context)
    {
        if (States.TryGetValue(context, out var state))
        {
            state.OwnedTransaction?.Dispose();
            States.Remove(context);
        }
    }

    public InterceptionResult<int> SavingChanges(DbContextEventData eventData, InterceptionResult<int> result)
    {
        if (eventData.Context is { } context && States.TryGetValue(context, out var state) && state.Keyed.Count > 0)
        {
            AssignSequencesAsync(context, state, async: false, CancellationToken.None).GetAwaiter().GetResult();
        }

        return result;
    }

    public async ValueTask<InterceptionResult<int>> SavingChangesAsync(DbContextEventData eventData, InterceptionResult<int> result, CancellationToken cancellationToken = default)
    {
        if (eventData.Context is { } context && States.TryGetValue(context, out var state) && state.Keyed.Count > 0)
        {
            await AssignSequencesAsync(context, state, async: true, cancellationToken).ConfigureAwait(false);
        }

        return result;
    }

    public int SavedChanges(SaveChangesCompletedEventData eventData, int result)
    {
        Saved(eventData.Context);
        if (eventData.Context is { } context && States.TryGetValue(context, out var state))
        {
            if (state.OwnedTransaction is { } transaction)
            {
                state.OwnedTransaction = null;
                using (transaction)
                {
                    transaction.Commit();
                }
            }

            SignalIfCommitted(context, state);
        }

        return result;
    }

    public async ValueTask<int> SavedChangesAsync(SaveChangesCompletedEventData eventData, int result, CancellationToken cancellationToken = default)
    {
        Saved(eventData.Context);
        if (eventData.Context is { } context && States.TryGetValue(context, out var state))
        {
            if (state.OwnedTransaction is { } transaction)
            {
                state.OwnedTransaction = null;
                await using (transaction.ConfigureAwait(false))
                {
                    await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                }
            }

            SignalIfCommitted(context, state);
        }

        return result;
    }

    public void SaveChangesFailed(DbContextErrorEventData eventData) => Abandon(eventData.Context);

    public Task SaveChangesFailedAsync(DbContextErrorEventData eventData, CancellationToken cancellationToken = default)
    {
        Abandon(eventData.Context);
        return Task.CompletedTask;
    }

    public void SaveChangesCanceled(DbContextEventData eventData) => Abandon(eventData.Context);

    public Task SaveChangesCanceledAsync(DbContextEventData eventData, CancellationToken cancellationToken = default)
    {
        Abandon(eventData.Context);
        return Task.CompletedTask;
    }

    public void TransactionCommitted(DbTransaction transaction, TransactionEndEventData eventData) => Signal(eventData.Context);

    public Task TransactionCommittedAsync(DbTransaction transaction, TransactionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        Signal(eventData.Context);
        return Task.CompletedTask;
    }

    public void TransactionRolledBack(DbTransaction transaction, TransactionEndEventData eventData) => Forget(eventData.Context);

    public Task TransactionRolledBackAsync(DbTransaction transaction, TransactionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        Forget(eventData.Context);
        return Task.CompletedTask;
    }

    private static async Task AssignSequencesAsync(DbContext context, PublishState state, bool async, CancellationToken cancellationToken)
    {
        var pending = state.Keyed.Where(r => r.SequenceNumber is null && context.Entry(r).State == EntityState.Added).ToList();
        state.Keyed.Clear();
        if (pending.Count == 0)
        {
            return;
        }

        if (context.Database.CurrentTransaction is null)
        {
            // The counters must commit with the messages: open the transaction SaveChanges will then use and commit it in
            // SavedChanges. (With a retrying execution strategy EF asks for such work to run inside
            // strategy.Execute with an explicit transaction, as for any user transaction.)
            state.OwnedTransaction = async
                ? await context.Database.BeginTransactionAsync(cancellationToken).ConfigureAwait(false)
                : context.Database.BeginTransaction();
        }

        var connection = context.Database.GetDbConnection();
        var transaction = context.Database.CurrentTransaction!.GetDbTransaction();
        var sql = SequenceUpserts.GetValue(context.Model, _ => BuildUpsert(context));
        foreach (var group in pending.GroupBy(r => r.PartitionKey!, StringComparer.Ordinal))
        {
            var records = group.ToList();
            using var command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = sql;
            AddParameter(command, "@p0", group.Key);
            AddParameter(command, "@p1", (long)records.Count);
            var last = Convert.ToInt64(
                async ? await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) : command.ExecuteScalar(),
                System.Globalization.CultureInfo.InvariantCulture);
            var first = last - records.Count + 1;
            for (var i = 0; i < records.Count; i++)
            {
                records[i].SequenceNumber = first + i;
            }

            state.Assigned.AddRange(records);
        }
    }

    private static string BuildUpsert(DbContext context)
    {
        // Valid on PostgreSQL and on SQLite 3.35+ alike; both providers accept @-named parameters.
        var table = OutboxTables.From(context).Sequences;
        return $"INSERT INTO {table} AS s (partition_key, last_sequence) VALUES (@p0, @p1) " +
               "ON CONFLICT (partition_key) DO UPDATE SET last_sequence = s.last_sequence + excluded.last_sequence RETURNING last_sequence";
    }

    private static void AddParameter(DbCommand command, string name, object value)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.Value = value;
        command.Parameters.Add(parameter);
    }

    private void SignalIfCommitted(DbContext context, PublishState state)
    {
        state.Assigned.Clear();
        if (context.Database.CurrentTransaction is null)
        {
            Signal(context);
        }
    }

    private void Signal(DbContext? context)
    {
        if (context is not null && States.TryGetValue(context, out var state) && state.Pending > 0)
        {
            OutboxTelemetry.RecordPublished(state.Pending);
            state.Pending = 0;
            if (signal is { RoutesCommits: true })
            {
                signal.NotifyCommitted(context.Database.GetConnectionString()); // a database per tenant: wake that tenant's dispatcher
            }
            else
            {
                signal?.NotifyCommitted();
            }
        }
    }

    private static void Abandon(DbContext? context)
    {
        if (context is null || !States.TryGetValue(context, out var state))
        {
            return;
        }

        // The numbers given in this attempt were rolled back with it (or will be, with the user's transaction): the
        // messages are still Added, and a retried SaveChanges numbers them again.
        foreach (var record in state.Assigned)
        {
            record.SequenceNumber = null;
            state.Keyed.Add(record);
        }

        state.Assigned.Clear();
        if (state.OwnedTransaction is { } transaction)
        {
            state.OwnedTransaction = null;
            transaction.Dispose(); // rolls back
        }
    }

    private static void Saved(DbContext? context) =>
        context?.GetInfrastructure().GetService<OutboxUnsavedPublishWatch>()?.Saved();

    private static void Forget(DbContext? context)
    {
        if (context is not null && States.TryGetValue(context, out var state))
        {
            state.Pending = 0;
        }
    }

    private sealed class PublishState
    {
        /// <summary>Messages published since the last commit or rollback.</summary>
        public int Pending { get; set; }

        public List<OutboxRecord> Keyed { get; } = [];

        public List<OutboxRecord> Assigned { get; } = [];

        public IDbContextTransaction? OwnedTransaction { get; set; }
    }
}
