using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Outbox;
using Outbox.EntityFrameworkCore;
using Outbox.EntityFrameworkCore.PostgreSql;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Chooses PostgreSQL as the outbox store.</summary>
public static class OutboxPostgreSqlBuilderExtensions
{
    /// <summary>
    /// Stores the outbox in the PostgreSQL database of <typeparamref name="TContext"/>, whose model must call
    /// <c>modelBuilder.AddOutbox()</c>. The dispatcher reads the table names from that model and connects with the
    /// context's connection string unless <see cref="OutboxPostgreSqlOptions.ConnectionString"/> is set. Committed
    /// publishes wake dispatchers of other processes through LISTEN/NOTIFY (<see cref="OutboxPostgreSqlOptions.Notifications"/>).
    /// </summary>
    /// <exception cref="InvalidOperationException">Another provider or context was chosen as the outbox store before.</exception>
    public static OutboxBuilder UsePostgreSql<TContext>(this OutboxBuilder builder, Action<OutboxPostgreSqlOptions>? configure = null)
        where TContext : DbContext
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        OutboxStoreRegistration.Add(services, "PostgreSql", typeof(TContext));
        services.AddOptions<OutboxPostgreSqlOptions>().ValidateDataAnnotations().ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<Microsoft.Extensions.Options.IValidateOptions<OutboxPostgreSqlOptions>, OutboxPostgreSqlOptionsValidator>());
        if (configure is not null)
        {
            services.Configure(configure);
        }

        services.TryAddSingleton<OutboxStoreBootstrap<TContext>>();
        services.TryAddSingleton<PostgreSqlOutboxStore<TContext>>();
        services.Replace(ServiceDescriptor.Singleton<IOutboxStore>(static sp => sp.GetRequiredService<PostgreSqlOutboxStore<TContext>>()));
        services.Replace(ServiceDescriptor.Singleton<IOutboxMonitor>(static sp => sp.GetRequiredService<PostgreSqlOutboxStore<TContext>>()));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, PostgreSqlOutboxNotifications<TContext>>());
        OutboxAdminRegistration.AddAdminStores<TContext, PostgreSqlOutboxAdminStore<TContext>>(services);
        OutboxStartupRequirements<TContext>.RequireOutbox(services, $"UsePostgreSql<{typeof(TContext).Name}>()");
        return builder;
    }
}
