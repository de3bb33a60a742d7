using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Outbox.Benchmarks.Options;

namespace Outbox.Benchmarks.Infrastructure;

/// <summary>
/// D dispatcher hosts, each a real <see cref="IHost"/> wired the way a user wires one (AddDbContext + AddOutbox + the
/// provider's store), each with its own store and connection pool, as separate processes would have. All share the
/// null transport and one <see cref="StoreStats"/>. Host 0 also serves the steady scenario's producers.
/// </summary>
public sealed class DispatcherFleet : IAsyncDisposable
{
    private readonly List<IHost> _hosts;

    private DispatcherFleet(List<IHost> hosts, StoreStats stats)
    {
        _hosts = hosts;
        Stats = stats;
        Options = hosts[0].Services.GetRequiredService<IOptions<OutboxDispatcherOptions>>().Value;
    }

    public StoreStats Stats { get; }

    /// <summary>The dispatcher options in effect (the library defaults, overridden by the command line).</summary>
    public OutboxDispatcherOptions Options { get; }

    public int Hosts => _hosts.Count;

    /// <summary>The first host's services: producers living "in the same process" as a dispatcher use them.</summary>
    public IServiceProvider PrimaryServices => _hosts[0].Services;

    /// <param name="wakeup">
    /// Whether the hosts' DbContext is configured with <c>UseOutbox(sp)</c>, whose commits wake this process's
    /// dispatcher; otherwise with <c>UseOutbox()</c>, which numbers keyed messages but wakes nobody.
    /// </param>
    public static DispatcherFleet Build(BenchDatabase database, BenchOptions options, NullTransport transport, TextWriter log, bool wakeup) =>
        Build(database, options, outbox => outbox.Services.AddSingleton<IMessageTransport>(transport), log, wakeup);

    /// <param name="useTransport">Registers each host's transport (for example <c>UseRabbitMq(...)</c>).</param>
    public static DispatcherFleet Build(BenchDatabase database, BenchOptions options, Action<OutboxBuilder> useTransport, TextWriter log, bool wakeup)
    {
        var stats = new StoreStats();
        var hosts = new List<IHost>(options.Dispatchers);
        for (var i = 0; i < options.Dispatchers; i++)
        {
            var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
            builder.Logging.ClearProviders();
            builder.Logging.SetMinimumLevel(LogLevel.Warning);
            builder.Logging.AddProvider(new StderrLoggerProvider(log, $"dispatcher-{i}"));
            builder.Services.AddBenchContext<BenchDbContext>(options, (sp, context) =>
            {
                database.Configure(context);
                if (wakeup)
                {
                    context.UseOutbox(sp);
                }
                else
                {
                    context.UseOutbox(); // sequence numbers, but no in-process wake-up
                }
            });
            var outbox = builder.Services.AddOutbox(o =>
            {
                if (options.Batch is { } batch)
                {
                    o.BatchSize = batch;
                }

                if (options.Concurrency is { } concurrency)
                {
                    o.Concurrency = concurrency;
                }

                if (options.PollMilliseconds is { } poll)
                {
                    o.PollingInterval = TimeSpan.FromMilliseconds(poll);
                }
            });
            database.UseStore(outbox);
            builder.Services.Configure<Outbox.EntityFrameworkCore.PostgreSql.OutboxPostgreSqlOptions>(o =>
            {
                if (options.PgFloorRefreshMilliseconds is { } refresh)
                {
                    o.ClaimFloorRefreshInterval = TimeSpan.FromMilliseconds(refresh);
                }

                if (options.PgFloorRescanSeconds is { } rescan)
                {
                    o.ClaimFloorRescanInterval = TimeSpan.FromSeconds(rescan);
                }

                if (options.PgSynchronousCommit is { } synchronous)
                {
                    o.SynchronousCommit = synchronous;
                }
            });
            useTransport(outbox);
            TimingOutboxStore.Decorate(builder.Services, stats);
            hosts.Add(builder.Build());
        }

        return new DispatcherFleet(hosts, stats);
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (var host in _hosts)
        {
            await host.StartAsync(cancellationToken);
        }
    }

    /// <summary>Wakes every idle loop of every host, as a publisher's commit would in its own process.</summary>
    public void NotifyAll()
    {
        foreach (var host in _hosts)
        {
            host.Services.GetRequiredService<OutboxSignal>().Notify();
        }
    }

    public async Task StopAsync()
    {
        await Task.WhenAll(_hosts.Select(h => h.StopAsync(CancellationToken.None)));
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var host in _hosts)
        {
            if (host is IAsyncDisposable asyncDisposable)
            {
                await asyncDisposable.DisposeAsync();
            }
            else
            {
                host.Dispose();
            }
        }
    }
}
