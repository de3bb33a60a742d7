using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Outbox.EntityFrameworkCore;

/// <summary>
/// Deletes inbox rows of <typeparamref name="TContext"/>'s database received more than
/// <see cref="InboxCleanupOptions.RetentionPeriod"/> ago, every <see cref="InboxCleanupOptions.Interval"/>, in batches of
/// <see cref="InboxCleanupOptions.BatchSize"/>, each its own short statement. Catches, logs and carries on.
/// </summary>
internal sealed class InboxCleanupService<TContext>(
    IServiceScopeFactory scopes,
    IOptions<InboxCleanupOptions> options,
    TimeProvider timeProvider,
    ILogger<InboxCleanupService<TContext>> logger) : BackgroundService
    where TContext : DbContext
{
    private static readonly TimeSpan ErrorBaseDelay = TimeSpan.FromSeconds(1);
    private readonly InboxCleanupOptions _options = options.Value;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await Task.Yield();
        if (!_options.Enabled)
        {
            InboxLog.CleanupDisabled(logger);
            return;
        }

        var errors = 0;
        while (!stoppingToken.IsCancellationRequested)
        {
            TimeSpan delay;
            try
            {
                await CleanupOnceAsync(stoppingToken).ConfigureAwait(false);
                errors = 0;
                delay = _options.Interval;
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                errors++;
                delay = RetryBackoff.Compute(errors, ErrorBaseDelay, _options.Interval, Random.Shared.NextDouble());
                InboxLog.CleanupFailed(logger, ex, typeof(TContext).Name, delay);
            }

            try
            {
                await Task.Delay(delay, timeProvider, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Deletes every row older than the retention period, batch by batch; returns how many.</summary>
    internal async Task<long> CleanupOnceAsync(CancellationToken cancellationToken)
    {
        var cutoff = timeProvider.GetUtcNow() - _options.RetentionPeriod;
        long total = 0;
        var scope = scopes.CreateAsyncScope();
        await using (scope.ConfigureAwait(false))
        {
            var context = scope.ServiceProvider.GetRequiredService<TContext>();
            var tables = InboxTables.From(context);
            while (true)
            {
                var deleted = await context.Database.ExecuteSqlRawAsync(
                    tables.DeleteOlderThan,
                    [cutoff.UtcDateTime, _options.BatchSize],
                    cancellationToken).ConfigureAwait(false);
                total += deleted;
                if (deleted < _options.BatchSize)
                {
                    break;
                }

                await Task.Delay(_options.BatchPause, timeProvider, cancellationToken).ConfigureAwait(false);
            }

            if (total > 0)
            {
                InboxLog.CleanupDeleted(logger, tables.Inbox, total, cutoff);
            }
        }

        return total;
    }
}
