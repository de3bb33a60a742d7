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
    /// <exception cref="InvalidOperationException">
    /// Another provider or context was chosen as this outbox's store before, or another outbox keeps its store in <typeparamref name="TContext"/>.
    /// </exception>
    public static OutboxBuilder UsePostgreSql<TContext>(this OutboxBuilder builder, Action<OutboxPostgreSqlOptions>? configure = null)
        where TContext : DbContext
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        var optionsName = builder.Outbox.OptionsName;
        if (configure is not null)
        {
            services.Configure(optionsName, configure);
        }

        if (!OutboxStoreRegistration.Add<TContext>(builder, "PostgreSql"))
        {
            return builder;
        }

        services.AddOptions<OutboxPostgreSqlOptions>(optionsName).ValidateDataAnnotations().ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<Microsoft.Extensions.Options.IValidateOptions<OutboxPostgreSqlOptions>, OutboxPostgreSqlOptionsValidator>());
        services.TryAddSingleton<PostgreSqlOutboxStore<TContext>>();
        builder.AddOutboxService<IOutboxStore>(static sp => sp.GetRequiredService<PostgreSqlOutboxStore<TContext>>());
        builder.AddOutboxService<IOutboxMonitor>(static sp => sp.GetRequiredService<PostgreSqlOutboxStore<TContext>>());
        var outbox = builder.Outbox;
        builder.AddOutboxService<IOutboxTenantStoreFactory>(sp => new PostgreSqlTenantStoreFactory<TContext>(sp, outbox));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, PostgreSqlOutboxNotifications<TContext>>());
        OutboxAdminRegistration.AddAdminStores<TContext, PostgreSqlOutboxAdminStore<TContext>>(builder);
        return builder;
    }
}
