using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Outbox.EntityFrameworkCore.Sqlite;

/// <summary>
/// The stores of one tenant database (file) of a database-per-tenant outbox on SQLite: the outbox's options and the
/// tables of <typeparamref name="TContext"/>'s model, with the tenant's connection string. Nothing connects until the
/// tenant's dispatcher claims.
/// </summary>
internal sealed class SqliteTenantStoreFactory<TContext>(IServiceProvider services, OutboxInstance outbox) : IOutboxTenantStoreFactory
    where TContext : DbContext
{
    public OutboxTenantStores Create(OutboxDatabase database, OutboxSignal signal)
    {
        var bootstrap = services.GetRequiredService<OutboxStoreBootstrap<TContext>>();
        var options = services.GetRequiredService<IOptionsMonitor<OutboxSqliteOptions>>().Get(outbox.OptionsName).ForDatabase(database.ConnectionString);
        var store = new SqliteOutboxStore<TContext>(bootstrap, options, outbox.DispatcherOptions(services));
        return new OutboxTenantStores(store, store, new SqliteOutboxAdminStore<TContext>(bootstrap, options, signal), Resources: null);
    }
}
