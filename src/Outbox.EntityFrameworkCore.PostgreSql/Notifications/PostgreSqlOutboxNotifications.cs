using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Outbox.EntityFrameworkCore.PostgreSql;

/// <summary>
/// Cross-process wake-up on PostgreSQL. After a publisher's transaction commits (<see cref="OutboxSignal.Committed"/>),
/// sends <c>NOTIFY</c> on the outbox's channel from its own connection, coalesced to at most one per
/// <see cref="OutboxPostgreSqlOptions.NotifyInterval"/>; and, where the dispatcher runs, <c>LISTEN</c>s on that channel
/// and wakes the local loops. Never inside a business transaction, never a trigger. The listener reconnects by itself;
/// polling covers any notification lost meanwhile.
/// </summary>
internal sealed class PostgreSqlOutboxNotifications<TContext> : BackgroundService
    where TContext : DbContext
{
    private static readonly TimeSpan ReconnectBaseDelay = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan ReconnectMaxDelay = TimeSpan.FromSeconds(10);

    private readonly OutboxStoreBootstrap<TContext> _bootstrap;
    private readonly OutboxSignal _signal;
    private readonly OutboxPostgreSqlOptions _options;
    private readonly OutboxDispatcherOptions _dispatcher;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _committed = new(0, 1);

    public PostgreSqlOutboxNotifications(
        OutboxStoreBootstrap<TContext> bootstrap,
        OutboxSignal signal,
        IOptions<OutboxPostgreSqlOptions> options,
        IOptions<OutboxDispatcherOptions> dispatcher,
        TimeProvider timeProvider,
        ILogger<PostgreSqlOutboxNotifications<TContext>> logger)
    {
        _bootstrap = bootstrap;
        _signal = signal;
        _options = options.Value;
        _dispatcher = dispatcher.Value;
        _time = timeProvider;
        _logger = logger;
    }

    public override void Dispose()
    {
        _committed.Dispose();
        base.Dispose();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!_options.Notifications)
        {
            return;
        }

        // Subscribed before the first await, so while the host starts: a commit right after start-up is not missed.
        _signal.Committed += OnCommitted;
        try
        {
            await Task.Yield();
            var tasks = new List<Task> { SendLoopAsync(stoppingToken) };
            if (_dispatcher.Enabled)
            {
                tasks.Add(ListenLoopAsync(stoppingToken));
            }

            await Task.WhenAll(tasks).ConfigureAwait(false);
        }
        finally
        {
            _signal.Committed -= OnCommitted;
        }
    }

    private void OnCommitted()
    {
        // Coalesce: one pending NOTIFY is enough however many commits arrive before it is sent.
        if (_committed.CurrentCount == 0)
        {
            try
            {
                _committed.Release();
            }
            catch (SemaphoreFullException)
            {
                // Another commit released it first.
            }
        }
    }

    private async Task SendLoopAsync(CancellationToken stopping)
    {
        var failures = 0;
        NpgsqlConnection? connection = null;
        try
        {
            while (!stopping.IsCancellationRequested)
            {
                await _committed.WaitAsync(stopping).ConfigureAwait(false);
                try
                {
                    connection ??= await OpenAsync(stopping).ConfigureAwait(false);
                    using var command = new NpgsqlCommand("SELECT pg_notify($1, '')", connection);
                    command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = Channel });
                    await command.ExecuteNonQueryAsync(stopping).ConfigureAwait(false);
                    failures = 0;
                    await Task.Delay(_options.NotifyInterval, _time, stopping).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !stopping.IsCancellationRequested)
                {
                    failures++;
                    PostgreSqlNotificationsLog.NotifyFailed(_logger, ex);
                    if (connection is not null)
                    {
                        await connection.DisposeAsync().ConfigureAwait(false);
                        connection = null;
                    }

                    await Task.Delay(RetryBackoff.Compute(failures, ReconnectBaseDelay, ReconnectMaxDelay, Random.Shared.NextDouble()), _time, stopping).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // Stopping.
        }
        finally
        {
            if (connection is not null)
            {
                await connection.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private async Task ListenLoopAsync(CancellationToken stopping)
    {
        var failures = 0;
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                var connection = await OpenAsync(stopping).ConfigureAwait(false);
                await using (connection.ConfigureAwait(false))
                {
                    connection.Notification += (_, _) => _signal.Notify();
                    using (var listen = new NpgsqlCommand($"LISTEN {QuotedChannel}", connection))
                    {
                        await listen.ExecuteNonQueryAsync(stopping).ConfigureAwait(false);
                    }

                    PostgreSqlNotificationsLog.Listening(_logger, Channel);
                    failures = 0;

                    // Notifications may have been missed while not listening: look once now.
                    _signal.Notify();
                    while (!stopping.IsCancellationRequested)
                    {
                        await connection.WaitAsync(stopping).ConfigureAwait(false);
                    }
                }
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                failures++;
                var delay = RetryBackoff.Compute(failures, ReconnectBaseDelay, ReconnectMaxDelay, Random.Shared.NextDouble());
                PostgreSqlNotificationsLog.ListenFailed(_logger, ex, delay);
                try
                {
                    await Task.Delay(delay, _time, stopping).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    private string Channel => _bootstrap.Tables.NotificationChannel;

    private string QuotedChannel => "\"" + Channel + "\"";

    private async Task<NpgsqlConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var builder = new NpgsqlConnectionStringBuilder(PostgreSqlConnectionStrings.For(_options, _bootstrap.Tables, typeof(TContext)))
        {
            // A dedicated, long-lived connection: keep it out of the pool and alive through idle periods.
            Pooling = false,
            KeepAlive = 30,
            ApplicationName = "outbox-notifications",
        };
        var connection = new NpgsqlConnection(builder.ConnectionString);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }
}

internal static partial class PostgreSqlNotificationsLog
{
    [LoggerMessage(EventId = 1101, Level = LogLevel.Information, Message = "Listening for outbox notifications on channel {Channel}.")]
    public static partial void Listening(ILogger logger, string channel);

    [LoggerMessage(EventId = 1102, Level = LogLevel.Warning, Message = "The outbox notification listener lost its connection; reconnecting in {Delay}. Polling continues meanwhile.")]
    public static partial void ListenFailed(ILogger logger, Exception exception, TimeSpan delay);

    [LoggerMessage(EventId = 1103, Level = LogLevel.Warning, Message = "Sending an outbox notification failed; dispatchers in other processes will find the messages by polling.")]
    public static partial void NotifyFailed(ILogger logger, Exception exception);
}
