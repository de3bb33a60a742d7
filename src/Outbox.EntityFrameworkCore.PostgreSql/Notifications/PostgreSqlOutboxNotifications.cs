using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
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
/// polling covers any notification lost meanwhile. After each <c>LISTEN</c> it sends itself a probe and warns when that
/// does not come back, as behind a pooler in transaction mode (see <see cref="OutboxPostgreSqlOptions.ListenerConnectionString"/>).
/// </summary>
internal sealed class PostgreSqlOutboxNotifications<TContext> : BackgroundService
    where TContext : DbContext
{
    private static readonly TimeSpan ReconnectBaseDelay = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan ReconnectMaxDelay = TimeSpan.FromSeconds(10);

    /// <summary>While NOTIFY keeps failing (retried every 10 s at most), it is logged at the first failure and every so many.</summary>
    private const int NotifyFailureLogEvery = 30;

    /// <summary>How long the listener waits for its own probe (see <see cref="ProbeAsync"/>) before it warns.</summary>
    internal static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(10);

    /// <summary>How long sending the probe (opening a connection and the <c>NOTIFY</c>) may take before it counts as not sent.</summary>
    internal static readonly TimeSpan ProbeSendTimeout = TimeSpan.FromSeconds(15);

    /// <summary>How much longer than asked the listener's wait for its probe may take before it is cancelled.</summary>
    private static readonly TimeSpan ProbeWaitGrace = TimeSpan.FromSeconds(5);

    /// <summary>How many times the listener tries to send its probe after a <c>LISTEN</c> before it leaves the question open.</summary>
    internal const int ProbeAttempts = 5;

    /// <summary>The payload of the probe; publishes notify with <see cref="_sender"/> (older versions with an empty one).</summary>
    private const string ProbePayload = "outbox-listener-probe";

    /// <summary>
    /// This instance's NOTIFY payload. The commits it announces already woke this process's loops (the signal wakes them
    /// before it asks for the NOTIFY), so its listener ignores their echo instead of waking every loop a second time.
    /// A payload, not the backend pid: behind a pooler the sending backend is not the connection's.
    /// </summary>
    private readonly string _sender = "outbox-" + Guid.NewGuid().ToString("N");

    private readonly OutboxStoreBootstrap<TContext> _bootstrap;
    private readonly OutboxSignal _signal;
    private readonly OutboxPostgreSqlOptions _options;
    private readonly OutboxDispatcherOptions _dispatcher;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _committed = new(0, 1);

    // A database-per-tenant outbox has no one database to listen on: its tenants are woken in-process, and from other
    // processes by polling (docs/tenants.md).
    private bool Enabled => _options.Notifications && !_bootstrap.Outbox.PerTenant;

    public PostgreSqlOutboxNotifications(
        OutboxStoreBootstrap<TContext> bootstrap,
        IServiceProvider services,
        IOptionsMonitor<OutboxPostgreSqlOptions> options,
        IOptionsMonitor<OutboxDispatcherOptions> dispatcher,
        TimeProvider timeProvider,
        ILogger<PostgreSqlOutboxNotifications<TContext>> logger)
    {
        _bootstrap = bootstrap;
        _signal = services.GetRequiredKeyedService<OutboxSignal>(bootstrap.Outbox.Name);
        _options = options.Get(bootstrap.Outbox.OptionsName);
        _dispatcher = dispatcher.Get(bootstrap.Outbox.OptionsName);
        _time = timeProvider;
        _logger = logger;
    }

    public override void Dispose()
    {
        _committed.Dispose();
        base.Dispose();
    }

    /// <summary>
    /// Subscribes to this process's commits before the host's start returns: since .NET 10 a BackgroundService's
    /// ExecuteAsync runs on the thread pool, so subscribing there could miss a commit made right after start-up (its
    /// NOTIFY never sent, the other processes left to their polling), as a loaded machine showed.
    /// </summary>
    public override Task StartAsync(CancellationToken cancellationToken)
    {
        if (Enabled)
        {
            _signal.Committed += OnCommitted;
        }

        return base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!Enabled)
        {
            return;
        }

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
                // After a failed NOTIFY the commit it was for is still unannounced: send it again after the backoff rather
                // than wait for the next commit, which may be minutes away, leaving listeners to their polling meanwhile.
                if (failures == 0)
                {
                    await _committed.WaitAsync(stopping).ConfigureAwait(false);
                }

                try
                {
                    connection ??= await OpenAsync(stopping).ConfigureAwait(false);
                    using var command = new NpgsqlCommand("SELECT pg_notify($1, $2)", connection);
                    command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = Channel });
                    command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = _sender });
                    await command.ExecuteNonQueryAsync(stopping).ConfigureAwait(false);
                    PostgreSqlNotificationsLog.Sent(_logger, Channel);
                    failures = 0;
                    await Task.Delay(_options.NotifyInterval, _time, stopping).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !stopping.IsCancellationRequested)
                {
                    failures++;
                    if (failures % NotifyFailureLogEvery == 1)
                    {
                        PostgreSqlNotificationsLog.NotifyFailed(_logger, ex); // the first failure, then every 30th
                    }

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
                var connection = await OpenAsync(ListenerConnectionString, stopping).ConfigureAwait(false);
                await using (connection.ConfigureAwait(false))
                {
                    var received = 0;
                    connection.Notification += (_, e) =>
                    {
                        Volatile.Write(ref received, 1);
                        if (e.Payload != ProbePayload && e.Payload != _sender)
                        {
                            PostgreSqlNotificationsLog.Received(_logger, Channel);
                            _signal.NotifyCommits(); // another process committed
                        }
                    };
                    using (var listen = new NpgsqlCommand($"LISTEN {QuotedChannel}", connection))
                    {
                        await listen.ExecuteNonQueryAsync(stopping).ConfigureAwait(false);
                    }

                    PostgreSqlNotificationsLog.Listening(_logger, Channel);
                    failures = 0;

                    // Notifications may have been missed while not listening: look once now.
                    _signal.Notify();
                    for (var attempt = 1; !await ProbeAsync(connection, () => Volatile.Read(ref received) != 0, attempt, stopping).ConfigureAwait(false); attempt++)
                    {
                        // Not sent: nothing is known yet. Keep listening meanwhile and try again.
                        await connection.WaitAsync(ProbeTimeout, stopping).ConfigureAwait(false);
                    }

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

    /// <summary>
    /// Checks that notifications reach the listener: sends one <c>NOTIFY</c> on the channel from another connection (the
    /// publishers' connection string, as a publish would) and waits up to <see cref="ProbeTimeout"/> for any
    /// notification to arrive on <paramref name="listener"/>. A pooler in transaction mode drops them silently (the
    /// listener's server connection is not linked to it once <c>LISTEN</c> has returned); that is worth a warning
    /// naming the fix, as polling is then the only way other processes' messages are found. A probe that cannot be
    /// sent proves nothing: it returns <see langword="false"/> and the caller tries again, up to
    /// <see cref="ProbeAttempts"/> times, before it gives up with a warning that says so.
    /// </summary>
    /// <returns>
    /// <see langword="false"/> when the probe could not be sent and another attempt is due; <see langword="true"/>
    /// once the question is settled (received, lost, or no attempt left).
    /// </returns>
    private async Task<bool> ProbeAsync(NpgsqlConnection listener, Func<bool> received, int attempt, CancellationToken stopping)
    {
        var started = _time.GetTimestamp();
        try
        {
            // Bounded as a whole: a probe stuck behind a pooler (waiting for a server connection) must not keep the
            // listener from listening.
            using var sendBound = new CancellationTokenSource(ProbeSendTimeout, _time);
            using var send = CancellationTokenSource.CreateLinkedTokenSource(stopping, sendBound.Token);
            var sender = await OpenAsync(PostgreSqlConnectionStrings.For(_options, _bootstrap.Tables, typeof(TContext)), send.Token).ConfigureAwait(false);
            await using (sender.ConfigureAwait(false))
            {
                using var notify = new NpgsqlCommand("SELECT pg_notify($1, $2)", sender);
                notify.Parameters.Add(new NpgsqlParameter<string> { TypedValue = Channel });
                notify.Parameters.Add(new NpgsqlParameter<string> { TypedValue = ProbePayload });
                await notify.ExecuteNonQueryAsync(send.Token).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !stopping.IsCancellationRequested)
        {
            if (attempt < ProbeAttempts)
            {
                PostgreSqlNotificationsLog.ProbeNotSentYet(_logger, ex, attempt, ProbeAttempts);
                return false;
            }

            PostgreSqlNotificationsLog.ProbeNotSent(_logger, ex, ProbeAttempts);
            return true;
        }

        while (!received())
        {
            var left = ProbeTimeout - _time.GetElapsedTime(started);
            if (left <= TimeSpan.Zero)
            {
                PostgreSqlNotificationsLog.ProbeLost(_logger, Channel, ProbeTimeout, _dispatcher.PollingInterval);
                return true;
            }

            // Returns on a notification or at the timeout; the connection stays usable either way. Bounded by a token
            // too, a little later, in case the wait itself does not return: then the probe counts as lost (and the
            // listener, its connection broken by the cancellation, reconnects).
            using var waitBound = new CancellationTokenSource(left + ProbeWaitGrace, _time);
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(stopping, waitBound.Token);
            try
            {
                await listener.WaitAsync(left, wait.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!stopping.IsCancellationRequested)
            {
                PostgreSqlNotificationsLog.ProbeLost(_logger, Channel, ProbeTimeout, _dispatcher.PollingInterval);
                throw new TimeoutException($"The notification listener's wait did not return within {left + ProbeWaitGrace}.");
            }
        }

        var elapsed = _time.GetElapsedTime(started);
        PostgreSqlNotificationsLog.ProbeReceived(_logger, Channel, elapsed.TotalMilliseconds);
        return true;
    }

    private string ListenerConnectionString =>
        _options.ListenerConnectionString ?? PostgreSqlConnectionStrings.For(_options, _bootstrap.Tables, typeof(TContext));

    private string Channel => _bootstrap.Tables.NotificationChannel;

    private string QuotedChannel => "\"" + Channel + "\"";

    private Task<NpgsqlConnection> OpenAsync(CancellationToken cancellationToken) =>
        OpenAsync(PostgreSqlConnectionStrings.For(_options, _bootstrap.Tables, typeof(TContext)), cancellationToken);

    private static async Task<NpgsqlConnection> OpenAsync(string connectionString, CancellationToken cancellationToken)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString)
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

    [LoggerMessage(EventId = 1104, Level = LogLevel.Warning, Message = "The outbox notification listener sent a NOTIFY probe on channel {Channel} and nothing came back within {Timeout}: its connection most likely goes through a pooler in transaction mode (PgBouncer, RDS Proxy, Supavisor, pgcat), which drops notifications. Dispatchers in this process will find messages published elsewhere only by polling (every {PollingInterval}). Fix: set OutboxPostgreSqlOptions.ListenerConnectionString to a direct (non-pooled) connection string to the server, or set OutboxPostgreSqlOptions.Notifications = false to accept polling.")]
    public static partial void ProbeLost(ILogger logger, string channel, TimeSpan timeout, TimeSpan pollingInterval);

    [LoggerMessage(EventId = 1105, Level = LogLevel.Information, Message = "The outbox notification listener received its probe on channel {Channel} after {Milliseconds:0.#} ms: notifications arrive.")]
    public static partial void ProbeReceived(ILogger logger, string channel, double milliseconds);

    [LoggerMessage(EventId = 1106, Level = LogLevel.Warning, Message = "The outbox notification listener could not send its NOTIFY probe in {Attempts} attempts; whether notifications reach it is not known (behind a pooler in transaction mode they do not: see OutboxPostgreSqlOptions.ListenerConnectionString). Polling continues either way.")]
    public static partial void ProbeNotSent(ILogger logger, Exception exception, int attempts);

    [LoggerMessage(EventId = 1107, Level = LogLevel.Debug, Message = "The outbox notification listener could not send its NOTIFY probe (attempt {Attempt} of {Attempts}); it tries again while listening.")]
    public static partial void ProbeNotSentYet(ILogger logger, Exception exception, int attempt, int attempts);

    [LoggerMessage(EventId = 1108, Level = LogLevel.Debug, Message = "The outbox notification listener received a notification on channel {Channel}; the dispatchers look for work.")]
    public static partial void Received(ILogger logger, string channel);

    [LoggerMessage(EventId = 1109, Level = LogLevel.Debug, Message = "Sent an outbox notification on channel {Channel} for the commits of this process.")]
    public static partial void Sent(ILogger logger, string channel);

    [LoggerMessage(EventId = 1103, Level = LogLevel.Warning, Message = "Sending an outbox notification failed; it is sent again (backing off up to 10 s) until it goes through, and dispatchers in other processes poll meanwhile.")]
    public static partial void NotifyFailed(ILogger logger, Exception exception);
}
