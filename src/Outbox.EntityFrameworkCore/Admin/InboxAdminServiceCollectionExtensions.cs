using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Outbox;
using Outbox.EntityFrameworkCore;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Chooses where the admin API reads inbox dead letters from.</summary>
public static class InboxAdminServiceCollectionExtensions
{
    /// <summary>
    /// Serves the inbox dead letters of <typeparamref name="TContext"/> (whose model calls <c>modelBuilder.AddInbox()</c>)
    /// as the <see cref="IInboxAdminStore"/>. <c>UsePostgreSql&lt;TContext&gt;()</c> and <c>UseSqlite&lt;TContext&gt;()</c>
    /// already do so for the outbox's DbContext; call this when the consumers keep their inbox in another one.
    /// </summary>
    public static IServiceCollection AddInboxAdmin<TContext>(this IServiceCollection services)
        where TContext : DbContext
    {
        ArgumentNullException.ThrowIfNull(services);
        services.Replace(ServiceDescriptor.Singleton<IInboxAdminStore, EntityFrameworkInboxAdminStore<TContext>>());
        return services;
    }
}
