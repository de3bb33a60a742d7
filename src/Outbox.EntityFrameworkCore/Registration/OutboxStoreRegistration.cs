using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Outbox.EntityFrameworkCore;

/// <summary>
/// Records which store each outbox's <c>Use...&lt;TContext&gt;()</c> chose, so that a choice that cannot work fails
/// at once with both named instead of silently replacing the first (whose messages would then be written and never
/// dispatched): a second, different store for one outbox, or a second outbox on a context that already holds one
/// (the same tables, claimed by two dispatchers with different options and transports). Choosing the same provider and
/// context again for the same outbox is harmless.
/// </summary>
internal sealed record OutboxStoreRegistration(string Outbox, string Provider, Type Context)
{
    /// <summary>The call that made this registration, as the user wrote it.</summary>
    public string Call => Outbox == OutboxInstance.DefaultName
        ? $"AddOutbox().Use{Provider}<{Context.Name}>()"
        : $"AddOutbox(\"{Outbox}\").Use{Provider}<{Context.Name}>()";

    /// <summary>
    /// Registers the store-independent parts of <paramref name="builder"/>'s store in <typeparamref name="TContext"/>:
    /// the record, the bootstrap (knowing its outbox) and the start-up checks. The provider registers its own
    /// services after it, once.
    /// </summary>
    /// <returns><see langword="false"/> when the same store was registered before (nothing added again).</returns>
    /// <exception cref="InvalidOperationException">The choice conflicts with an earlier one; the message names both.</exception>
    public static bool Add<TContext>(OutboxBuilder builder, string provider)
        where TContext : DbContext
    {
        var services = builder.Services;
        var chosen = new OutboxStoreRegistration(builder.Name, provider, typeof(TContext));
        var existing = services
            .Where(static d => d.ServiceType == typeof(OutboxStoreRegistration))
            .Select(static d => d.ImplementationInstance)
            .OfType<OutboxStoreRegistration>()
            .ToList();
        if (existing.Contains(chosen))
        {
            return false;
        }

        if (existing.FirstOrDefault(r => r.Outbox == chosen.Outbox) is { } sameOutbox)
        {
            throw new InvalidOperationException(
                $"{sameOutbox.Call} already stores outbox '{sameOutbox.Outbox}' with {sameOutbox.Provider} in {sameOutbox.Context.Name}; " +
                $"Use{provider}<{typeof(TContext).Name}>() would replace it, and the messages published through {sameOutbox.Context.Name} would never be dispatched. " +
                $"An outbox has one store: to dispatch {typeof(TContext).Name}'s messages too, give it an outbox of its own " +
                $"(services.AddOutbox(\"{typeof(TContext).Name.Replace("DbContext", string.Empty, StringComparison.Ordinal).Replace("Context", string.Empty, StringComparison.Ordinal).ToLowerInvariant()}\").Use{provider}<{typeof(TContext).Name}>()...).");
        }

        if (existing.FirstOrDefault(r => r.Context == chosen.Context) is { } sameContext)
        {
            throw new InvalidOperationException(
                $"{sameContext.Call} and {chosen.Call} both keep their outbox in {typeof(TContext).Name}: two outboxes on one context share its " +
                $"outbox tables, so each would claim the other's messages with the wrong options and transport. Give each outbox its own DbContext type.");
        }

        services.AddSingleton(chosen);
        var outbox = builder.Outbox;
        services.Replace(ServiceDescriptor.Singleton(sp => new OutboxStoreBootstrap<TContext>(sp.GetRequiredService<IServiceScopeFactory>()) { Outbox = outbox }));
        OutboxStartupRequirements<TContext>.RequireOutbox(services, outbox.IsDefault ? $"Use{provider}<{typeof(TContext).Name}>()" : chosen.Call);
        OutboxContextCoverageCheck.Register(services);
        return true;
    }

    /// <summary>The outbox whose store is <paramref name="context"/>, or <see langword="null"/>.</summary>
    public static OutboxStoreRegistration? Of(IEnumerable<OutboxStoreRegistration> registrations, Type context) =>
        registrations.FirstOrDefault(r => r.Context == context);
}
