using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Outbox;
using Outbox.EntityFrameworkCore;
using Outbox.EntityFrameworkCore.Sqlite;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Chooses SQLite as the outbox store.</summary>
public static class OutboxSqliteBuilderExtensions
{
    /// <summary>
    /// Stores the outbox in the SQLite database of <typeparamref name="TContext"/>, whose model must call
    /// <c>modelBuilder.AddOutbox()</c>. SQLite allows one writer at a time: several dispatcher loops or processes are
    /// safe, and take turns on the write lock.
    /// </summary>
    /// <exception cref="InvalidOperationException">
    /// Another provider or context was chosen as this outbox's store before, or another outbox keeps its store in <typeparamref name="TContext"/>.
    /// </exception>
    public static OutboxBuilder UseSqlite<TContext>(this OutboxBuilder builder, Action<OutboxSqliteOptions>? configure = null)
        where TContext : DbContext
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        var optionsName = builder.Outbox.OptionsName;
        if (configure is not null)
        {
            services.Configure(optionsName, configure);
        }

        if (!OutboxStoreRegistration.Add<TContext>(builder, "Sqlite"))
        {
            return builder;
        }

        services.AddOptions<OutboxSqliteOptions>(optionsName);
        services.TryAddSingleton<SqliteOutboxStore<TContext>>();
        builder.AddOutboxService<IOutboxStore>(static sp => sp.GetRequiredService<SqliteOutboxStore<TContext>>());
        builder.AddOutboxService<IOutboxMonitor>(static sp => sp.GetRequiredService<SqliteOutboxStore<TContext>>());
        var outbox = builder.Outbox;
        builder.AddOutboxService<IOutboxTenantStoreFactory>(sp => new SqliteTenantStoreFactory<TContext>(sp, outbox));
        OutboxAdminRegistration.AddAdminStores<TContext, SqliteOutboxAdminStore<TContext>>(builder);
        return builder;
    }
}
