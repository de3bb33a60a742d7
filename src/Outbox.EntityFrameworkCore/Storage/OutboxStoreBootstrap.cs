using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Outbox.EntityFrameworkCore;

/// <summary>
/// Reads the outbox tables of <typeparamref name="TContext"/> once, on first use, from a context resolved in its own
/// scope; the relational stores build their SQL from it.
/// </summary>
public sealed class OutboxStoreBootstrap<TContext>
    where TContext : DbContext
{
    private readonly Lazy<OutboxTables> _tables;

    /// <summary>Creates the bootstrap.</summary>
    public OutboxStoreBootstrap(IServiceScopeFactory scopes)
    {
        ArgumentNullException.ThrowIfNull(scopes);
        _tables = new Lazy<OutboxTables>(() =>
        {
            using var scope = scopes.CreateScope();
            var context = scope.ServiceProvider.GetRequiredService<TContext>();
            return OutboxTables.From(context);
        }, LazyThreadSafetyMode.PublicationOnly); // a failure (database not configured yet) is not cached
    }

    /// <summary>The outbox whose store this context holds (the default outbox until a store registration says otherwise).</summary>
    internal OutboxInstance Outbox { get; init; } = new(OutboxInstance.DefaultName);

    /// <summary>The tables and connection string.</summary>
    public OutboxTables Tables => _tables.Value;
}
