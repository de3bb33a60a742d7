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
    /// <exception cref="InvalidOperationException">Another provider or context was chosen as the outbox store before.</exception>
    public static OutboxBuilder UseSqlite<TContext>(this OutboxBuilder builder, Action<OutboxSqliteOptions>? configure = null)
        where TContext : DbContext
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        OutboxStoreRegistration.Add(services, "Sqlite", typeof(TContext));
        services.AddOptions<OutboxSqliteOptions>();
        if (configure is not null)
        {
            services.Configure(configure);
        }

        services.TryAddSingleton<OutboxStoreBootstrap<TContext>>();
        services.TryAddSingleton<SqliteOutboxStore<TContext>>();
        services.Replace(ServiceDescriptor.Singleton<IOutboxStore>(static sp => sp.GetRequiredService<SqliteOutboxStore<TContext>>()));
        services.Replace(ServiceDescriptor.Singleton<IOutboxMonitor>(static sp => sp.GetRequiredService<SqliteOutboxStore<TContext>>()));
        OutboxAdminRegistration.AddAdminStores<TContext, SqliteOutboxAdminStore<TContext>>(services);
        OutboxStartupRequirements<TContext>.RequireOutbox(services, $"UseSqlite<{typeof(TContext).Name}>()");
        return builder;
    }
}
