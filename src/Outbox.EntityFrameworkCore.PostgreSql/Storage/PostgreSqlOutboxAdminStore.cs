using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;

namespace Outbox.EntityFrameworkCore.PostgreSql;

/// <summary>
/// The PostgreSQL admin store: keyset pages over the outbox and dead-letter tables, and requeue / purge of dead
/// letters. A requeue moves each row with <c>WITH moved AS (DELETE ... RETURNING) INSERT ... SELECT</c>, all ids in one
/// transaction, so a dead letter is either back in the outbox or still dead, never both or neither. It has its own
/// small connection pool (application name <c>outbox-admin</c>), apart from the dispatcher's.
/// </summary>
internal sealed class PostgreSqlOutboxAdminStore<TContext> : IOutboxAdminStore, IAsyncDisposable, IDisposable
    where TContext : DbContext
{
    private readonly OutboxStoreBootstrap<TContext> _bootstrap;
    private readonly OutboxPostgreSqlOptions _options;
    private readonly OutboxSignal? _signal;
    private readonly Lazy<(NpgsqlDataSource DataSource, OutboxAdminSql Sql)> _state;

    public PostgreSqlOutboxAdminStore(OutboxStoreBootstrap<TContext> bootstrap, IOptionsMonitor<OutboxPostgreSqlOptions> options, IServiceProvider services)
        : this(bootstrap, options.Get(bootstrap.Outbox.OptionsName), services.GetKeyedService<OutboxSignal>(bootstrap.Outbox.Name))
    {
    }

    /// <summary>An admin store with the options and wake-up given (a tenant database's).</summary>
    internal PostgreSqlOutboxAdminStore(OutboxStoreBootstrap<TContext> bootstrap, OutboxPostgreSqlOptions options, OutboxSignal? signal)
    {
        _bootstrap = bootstrap;
        _options = options;
        _signal = signal;
        _state = new Lazy<(NpgsqlDataSource, OutboxAdminSql)>(Build, LazyThreadSafetyMode.PublicationOnly); // a failure is not cached
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

        var (dataSource, sql) = _state.Value;
        var requeued = new List<OutboxRequeued>(ordered.Length);
        var notFound = new List<long>();
        var connection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            await using (transaction.ConfigureAwait(false))
            {
                // One batch, one round trip: a statement per id, in id order, so positions follow the old order.
                var batch = new NpgsqlBatch(connection, transaction);
                await using (batch.ConfigureAwait(false))
                {
                    var statement =
                        $"WITH moved AS (DELETE FROM {sql.DeadLetters} WHERE id = $1 RETURNING {OutboxAdminSql.MessageColumns}) " +
                        $"{sql.RequeueInsertSelect} FROM moved RETURNING id, message_id";
                    foreach (var id in ordered)
                    {
                        var command = new NpgsqlBatchCommand(statement);
                        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = id });
                        batch.BatchCommands.Add(command);
                    }

                    var reader = await batch.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                    await using (reader.ConfigureAwait(false))
                    {
                        foreach (var id in ordered)
                        {
                            if (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                            {
                                requeued.Add(new OutboxRequeued(id, reader.GetInt64(0), reader.GetGuid(1)));
                            }
                            else
                            {
                                notFound.Add(id);
                            }

                            await reader.NextResultAsync(cancellationToken).ConfigureAwait(false);
                        }
                    }
                }

                await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            }
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

        var (dataSource, sql) = _state.Value;
        using var command = dataSource.CreateCommand($"DELETE FROM {sql.DeadLetters} WHERE id = ANY(@ids)");
        command.Parameters.Add(new NpgsqlParameter<long[]>("ids", [.. ids]));
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task<int> PurgeDeadLettersBeforeAsync(DateTimeOffset deadLetteredBefore, CancellationToken cancellationToken)
    {
        var (dataSource, sql) = _state.Value;
        using var command = dataSource.CreateCommand(sql.PurgeBefore);
        command.Parameters.Add(new NpgsqlParameter<DateTime>("before", deadLetteredBefore.UtcDateTime) { NpgsqlDbType = NpgsqlDbType.TimestampTz });
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (_state.IsValueCreated)
        {
            await _state.Value.DataSource.DisposeAsync().ConfigureAwait(false);
        }
    }

    public void Dispose()
    {
        if (_state.IsValueCreated)
        {
            _state.Value.DataSource.Dispose();
        }
    }

    private async Task<OutboxAdminPage<OutboxAdminMessage>> ListAsync(bool deadLetters, OutboxAdminQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        query.Validate();
        var (dataSource, sql) = _state.Value;
        using var command = dataSource.CreateCommand(sql.List(deadLetters, query));
        command.Parameters.Add(new NpgsqlParameter<int>("limit", query.PageSize + 1));
        if (query.After is { } after)
        {
            command.Parameters.Add(new NpgsqlParameter<long>("after", after));
        }

        AddText(command, "message_type", query.MessageType);
        AddText(command, "destination", query.Destination);
        AddText(command, "partition_key", query.PartitionKey);
        AddTime(command, "from", query.From);
        AddTime(command, "to", query.To);
        var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            return await OutboxAdminRowReader.ReadPageAsync(reader, query.PageSize, static (r, i) => r.GetGuid(i), cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<OutboxAdminMessage?> GetAsync(bool deadLetters, long id, CancellationToken cancellationToken)
    {
        var (dataSource, sql) = _state.Value;
        using var command = dataSource.CreateCommand(sql.Get(deadLetters));
        command.Parameters.Add(new NpgsqlParameter<long>("id", id));
        var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            return await OutboxAdminRowReader.ReadOneAsync(reader, static (r, i) => r.GetGuid(i), cancellationToken).ConfigureAwait(false);
        }
    }

    private static void AddText(NpgsqlCommand command, string name, string? value)
    {
        if (value is not null)
        {
            command.Parameters.Add(new NpgsqlParameter<string>(name, value));
        }
    }

    private static void AddTime(NpgsqlCommand command, string name, DateTimeOffset? value)
    {
        if (value is { } time)
        {
            command.Parameters.Add(new NpgsqlParameter<DateTime>(name, time.UtcDateTime) { NpgsqlDbType = NpgsqlDbType.TimestampTz });
        }
    }

    private (NpgsqlDataSource, OutboxAdminSql) Build()
    {
        var tables = _bootstrap.Tables;
        var builder = new NpgsqlConnectionStringBuilder(PostgreSqlConnectionStrings.For(_options, tables, typeof(TContext))) { MaxPoolSize = 4 };
        if (string.IsNullOrEmpty(builder.ApplicationName))
        {
            builder.ApplicationName = "outbox-admin";
        }

        return (NpgsqlDataSource.Create(builder.ConnectionString), new OutboxAdminSql(tables, "now()", "octet_length"));
    }
}
