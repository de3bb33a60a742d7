using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace Outbox.EntityFrameworkCore;

/// <summary>
/// What the registrations need from the database of <typeparamref name="TContext"/>: the outbox tables (a store,
/// <c>UseSqlite&lt;TContext&gt;()</c> / <c>UsePostgreSql&lt;TContext&gt;()</c>), the inbox tables (a consumer,
/// <c>AddOutboxConsumer&lt;TContext&gt;(name)</c>). One per context, read by <see cref="OutboxStartupCheck{TContext}"/>.
/// </summary>
internal sealed class OutboxStartupRequirements<TContext>
    where TContext : DbContext
{
    /// <summary>The call that stores the outbox in this context (for the messages), when one did.</summary>
    public string? OutboxStore { get; private set; }

    /// <summary>The consumers whose inbox is in this context.</summary>
    public List<string> Consumers { get; } = [];

    /// <summary>Called by the store packages' <c>UseSqlite</c> / <c>UsePostgreSql</c>.</summary>
    public static void RequireOutbox(IServiceCollection services, string storeCall) =>
        Get(services).OutboxStore = storeCall;

    /// <summary>Called by <c>AddOutboxConsumer</c>.</summary>
    public static void RequireInbox(IServiceCollection services, string consumer)
    {
        var requirements = Get(services);
        if (!requirements.Consumers.Contains(consumer))
        {
            requirements.Consumers.Add(consumer);
        }
    }

    private static OutboxStartupRequirements<TContext> Get(IServiceCollection services)
    {
        var existing = services
            .Where(static d => !d.IsKeyedService && d.ServiceType == typeof(OutboxStartupRequirements<TContext>))
            .Select(static d => d.ImplementationInstance)
            .OfType<OutboxStartupRequirements<TContext>>()
            .FirstOrDefault();
        if (existing is not null)
        {
            return existing;
        }

        var requirements = new OutboxStartupRequirements<TContext>();
        services.AddSingleton(requirements);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, OutboxStartupCheck<TContext>>());
        return requirements;
    }
}
