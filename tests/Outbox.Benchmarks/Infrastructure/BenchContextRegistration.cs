using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Outbox.Benchmarks.Options;

namespace Outbox.Benchmarks.Infrastructure;

/// <summary>Registers a benchmark DbContext the way <c>--context-pool</c> asks: <c>AddDbContextPool</c> or <c>AddDbContext</c>.</summary>
public static class BenchContextRegistration
{
    public static IServiceCollection AddBenchContext<TContext>(this IServiceCollection services, BenchOptions options, Action<IServiceProvider, DbContextOptionsBuilder> configure)
        where TContext : DbContext =>
        options.ContextPool ? services.AddDbContextPool<TContext>(configure) : services.AddDbContext<TContext>(configure);
}
