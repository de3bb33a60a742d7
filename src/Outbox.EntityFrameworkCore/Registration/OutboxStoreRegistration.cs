using Microsoft.Extensions.DependencyInjection;

namespace Outbox.EntityFrameworkCore;

/// <summary>
/// Records which store a provider's <c>Use...&lt;TContext&gt;()</c> chose, so that a second, different choice fails
/// at once with both named instead of silently replacing the first (whose messages would then be written and never
/// dispatched). Choosing the same provider and context again is harmless.
/// </summary>
internal sealed record OutboxStoreRegistration(string Provider, Type Context)
{
    /// <summary>Adds the record, or throws when another provider or context was chosen before.</summary>
    /// <exception cref="InvalidOperationException">Another store is already registered; the message names both.</exception>
    public static void Add(IServiceCollection services, string provider, Type context)
    {
        var chosen = new OutboxStoreRegistration(provider, context);
        var existing = services
            .Where(d => d.ServiceType == typeof(OutboxStoreRegistration))
            .Select(d => d.ImplementationInstance)
            .OfType<OutboxStoreRegistration>()
            .FirstOrDefault();
        if (existing == chosen)
        {
            return;
        }

        if (existing is not null)
        {
            throw new InvalidOperationException(
                $"AddOutbox() already stores its outbox with {existing.Provider} in {existing.Context.Name} (Use{existing.Provider}<{existing.Context.Name}>()); " +
                $"Use{provider}<{context.Name}>() would replace it, and the messages published through {existing.Context.Name} would never be dispatched. " +
                "A host has one outbox store today: choose one of the two (several outboxes per host are tracked as a separate feature).");
        }

        services.AddSingleton(chosen);
    }
}
