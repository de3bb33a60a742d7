using System.Globalization;
using System.Text;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Outbox.EntityFrameworkCore.Sqlite;

/// <summary>
/// The SQLite admin store: keyset pages over the outbox and dead-letter tables, and requeue / purge of dead letters.
/// A requeue takes the write lock (<c>BEGIN IMMEDIATE</c>) and, per id, copies the dead letter into the outbox
/// (<c>INSERT ... SELECT ... RETURNING</c>) and deletes it, all ids in one transaction. Times are compared as EF Core's
/// UTC text.
/// </summary>
internal sealed class SqliteOutboxAdminStore<TContext> : IOutboxAdminStore
    where TContext : DbContext
{
    private const string Now = "strftime('%Y-%m-%d %H:%M:%f', 'now')";

    private readonly OutboxStoreBootstrap<TContext> _bootstrap;
    private readonly OutboxSqliteOptions _options;
    private readonly OutboxSignal? _signal;
    private readonly Lazy<(string ConnectionString, OutboxAdminSql Sql)> _state;

    public SqliteOutboxAdminStore(OutboxStoreBootstrap<TContext> bootstrap, IOptionsMonitor<OutboxSqliteOptions> options, IServiceProvider services)
        : this(bootstrap, options.Get(bootstrap.Outbox.OptionsName), services.GetKeyedService<OutboxSignal>(bootstrap.Outbox.Name))
    {
    }

    /// <summary>An admin store with the options and wake-up given (a tenant database's).</summary>
    internal SqliteOutboxAdminStore(OutboxStoreBootstrap<TContext> bootstrap, OutboxSqliteOptions options, OutboxSignal? signal)
    {
        _bootstrap = bootstrap;
        _options = options;
        _signal = signal;
        _state = new Lazy<(string, OutboxAdminSql)>(Build, LazyThreadSafetyMode.PublicationOnly); // a failure is not cached
    }

    public Task<OutboxAdminPage<OutboxAdminMessage>> ListPendingAsync(OutboxAdminQuery query, CancellationToken cancellationToken) =>
        ListAsync(deadLetters: false, query, cancellationToken);

    public Task<OutboxAdminPage<OutboxAdminMessage>> ListDeadLettersAsync(OutboxAdminQuery query, CancellationToken cancellationToken) =>
        ListAsync(deadLetters: true, query, cancellationToken);

    public Task<OutboxAdminMessage?> GetPendingAsync(long position, CancellationToken cancellationToken) =>
        GetAsync(deadLetters: false, position, cancellationToken);

    public Task<OutboxAdminMessage?> GetDeadLetterAsync(long id, CancellationToken cancellationToken) =>
        GetAsync(deadLetters: true, id, cancellationToken);

    public async Task<OutboxRequeueResult> RequeueDeadLettersAsync(IReadOnlyCollection<long> ids, CancellationToken cancellationToken)
    {
        OutboxAdminQuery.ValidateIds(ids);
        var ordered = ids.Distinct().Order().ToArray();
        if (ordered.Length == 0)
        {
            return new OutboxRequeueResult([], []);
        }

        var (_, sql) = _state.Value;
        var requeued = new List<OutboxRequeued>(ordered.Length);
        var notFound = new List<long>();
        var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            using var transaction = connection.BeginTransaction(deferred: false);
            using var insert = connection.CreateCommand();
            insert.Transaction = transaction;
            insert.CommandText = $"{sql.RequeueInsertSelect} FROM {sql.DeadLetters} WHERE id = $id RETURNING id, message_id";
            var insertId = insert.Parameters.Add("$id", SqliteType.Integer);
            using var delete = connection.CreateCommand();
            delete.Transaction = transaction;
            delete.CommandText = $"DELETE FROM {sql.DeadLetters} WHERE id = $id";
            var deleteId = delete.Parameters.Add("$id", SqliteType.Integer);
            foreach (var id in ordered)
            {
                insertId.Value = id;
                OutboxRequeued? moved = null;
                var reader = await insert.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                await using (reader.ConfigureAwait(false))
                {
                    if (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                    {
                        moved = new OutboxRequeued(id, reader.GetInt64(0), Guid.Parse(reader.GetString(1)));
                    }
                }

                if (moved is null)
                {
                    notFound.Add(id);
                    continue;
                }

                deleteId.Value = id;
                await delete.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                requeued.Add(moved.Value);
            }

            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        }

        if (requeued.Count > 0)
        {
            _signal?.NotifyCommitted();
        }

        return new OutboxRequeueResult(requeued, notFound);
    }

    public async Task<int> PurgeDeadLettersAsync(IReadOnlyCollection<long> ids, CancellationToken cancellationToken)
    {
        OutboxAdminQuery.ValidateIds(ids);
        if (ids.Count == 0)
        {
            return 0;
        }

        var (_, sql) = _state.Value;
        var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            using var command = connection.CreateCommand();
            command.CommandText = $"DELETE FROM {sql.DeadLetters} WHERE id IN (SELECT value FROM json_each($ids))";
            command.Parameters.AddWithValue("$ids", SqliteConnections.JsonArray(ids));
            return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public async Task<int> PurgeDeadLettersBeforeAsync(DateTimeOffset deadLetteredBefore, CancellationToken cancellationToken)
    {
        var (_, sql) = _state.Value;
        var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            using var command = connection.CreateCommand();
            command.CommandText = sql.PurgeBefore;
            command.Parameters.AddWithValue("@before", Text(deadLetteredBefore));
            return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<OutboxAdminPage<OutboxAdminMessage>> ListAsync(bool deadLetters, OutboxAdminQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        query.Validate();
        var (_, sql) = _state.Value;
        var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            using var command = connection.CreateCommand();
            command.CommandText = sql.List(deadLetters, query);
            command.Parameters.AddWithValue("@limit", query.PageSize + 1);
            if (query.After is { } after)
            {
                command.Parameters.AddWithValue("@after", after);
            }

            AddIfSet(command, "@message_type", query.MessageType);
            AddIfSet(command, "@destination", query.Destination);
            AddIfSet(command, "@partition_key", query.PartitionKey);
            AddIfSet(command, "@from", query.From is { } from ? Text(from) : null);
            AddIfSet(command, "@to", query.To is { } to ? Text(to) : null);
            var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                return await OutboxAdminRowReader.ReadPageAsync(reader, query.PageSize, static (r, i) => Guid.Parse(r.GetString(i)), cancellationToken)
                    .ConfigureAwait(false);
            }
        }
    }

    private async Task<OutboxAdminMessage?> GetAsync(bool deadLetters, long id, CancellationToken cancellationToken)
    {
        var (_, sql) = _state.Value;
        var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            using var command = connection.CreateCommand();
            command.CommandText = sql.Get(deadLetters);
            command.Parameters.AddWithValue("@id", id);
            var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                return await OutboxAdminRowReader.ReadOneAsync(reader, static (r, i) => Guid.Parse(r.GetString(i)), cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private Task<SqliteConnection> OpenAsync(CancellationToken cancellationToken) =>
        SqliteConnections.OpenAsync(_state.Value.ConnectionString, cancellationToken);

    private static void AddIfSet(SqliteCommand command, string name, string? value)
    {
        if (value is not null)
        {
            command.Parameters.AddWithValue(name, value);
        }
    }

    // EF Core's layout of a UTC DateTime in SQLite; text comparison with it is time comparison.
    private static string Text(DateTimeOffset value) => value.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss.FFFFFFF", CultureInfo.InvariantCulture);

    private (string, OutboxAdminSql) Build()
    {
        var tables = _bootstrap.Tables;
        var connectionString = _options.ConnectionString ?? tables.ConnectionString
            ?? throw new InvalidOperationException(
                $"The SQLite outbox admin store has no connection string: {typeof(TContext).Name} is not configured with one. Set OutboxSqliteOptions.ConnectionString in UseSqlite<{typeof(TContext).Name}>(o => ...).");
        return (connectionString, new OutboxAdminSql(tables, Now, "length"));
    }
}
