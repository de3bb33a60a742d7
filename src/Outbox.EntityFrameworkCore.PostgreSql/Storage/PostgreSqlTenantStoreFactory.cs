using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Outbox.EntityFrameworkCore.PostgreSql;

/// <summary>
/// The stores of one tenant database of a database-per-tenant outbox on PostgreSQL: the outbox's options and the
/// tables of <typeparamref name="TContext"/>'s model, with the tenant's connection string (its own connection pool,
/// claim floor and leases). Nothing connects until the tenant's dispatcher claims.
/// </summary>
internal sealed class PostgreSqlTenantStoreFactory<TContext>(IServiceProvider services, OutboxInstance outbox) : IOutboxTenantStoreFactory
    where TContext : DbContext
{
    public OutboxTenantStores Create(OutboxDatabase database, OutboxSignal signal)
    {
        var bootstrap = services.GetRequiredService<OutboxStoreBootstrap<TContext>>();
        var options = services.GetRequiredService<IOptionsMonitor<OutboxPostgreSqlOptions>>().Get(outbox.OptionsName).ForDatabase(database.ConnectionString);
        var store = new PostgreSqlOutboxStore<TContext>(
            bootstrap,
            options,
            outbox.DispatcherOptions(services),
            services.GetService<ILogger<PostgreSqlOutboxStore<TContext>>>());
        var admin = new PostgreSqlOutboxAdminStore<TContext>(bootstrap, options, signal);
        return new OutboxTenantStores(store, store, admin, new Both(store, admin));
    }

    private sealed class Both(IAsyncDisposable first, IAsyncDisposable second) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await first.DisposeAsync().ConfigureAwait(false);
            await second.DisposeAsync().ConfigureAwait(false);
        }
    }
}
