using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Outbox.EntityFrameworkCore;

/// <summary>Registers the admin stores for a provider's <c>Use...&lt;TContext&gt;()</c>.</summary>
internal static class OutboxAdminRegistration
{
    /// <summary>
    /// Registers <typeparamref name="TStore"/> as the outbox's <see cref="IOutboxAdminStore"/> (replacing an earlier one) and,
    /// unless one is registered already, <typeparamref name="TContext"/>'s inbox dead letters as the
    /// <see cref="IInboxAdminStore"/> (available when its model maps the inbox).
    /// </summary>
    public static IServiceCollection AddAdminStores<TContext, TStore>(OutboxBuilder builder)
        where TContext : DbContext
        where TStore : class, IOutboxAdminStore
    {
        var services = builder.Services;
        services.TryAddSingleton<TStore>();
        builder.AddOutboxService<IOutboxAdminStore>(static sp => sp.GetRequiredService<TStore>());
        services.TryAddSingleton<IInboxAdminStore, EntityFrameworkInboxAdminStore<TContext>>();
        return services;
    }
}
