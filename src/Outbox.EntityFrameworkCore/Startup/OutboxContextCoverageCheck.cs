using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Outbox.EntityFrameworkCore;

/// <summary>
/// Fails the start, before any dispatcher runs, when a DbContext publishes into outbox tables (its options call
/// <c>UseOutbox(sp)</c> and its model maps the outbox) but no outbox of the host keeps its store there: its messages
/// would be written and never dispatched. The message names the context and the outboxes there are. Also fails when two
/// outboxes' contexts point at the same outbox table of the same database (each dispatcher would claim the other's
/// messages), naming both.
/// </summary>
internal sealed class OutboxContextCoverageCheck(IServiceCollection registrations, IServiceScopeFactory scopes) : IHostedLifecycleService
{
    /// <summary>Registers the check once per service collection (it reads the registrations themselves, hence the collection).</summary>
    public static void Register(IServiceCollection services)
    {
        if (!services.Any(static d => d.ServiceType == typeof(OutboxContextCoverageCheck)))
        {
            services.AddSingleton(sp => new OutboxContextCoverageCheck(services, sp.GetRequiredService<IServiceScopeFactory>()));
            services.AddSingleton<IHostedService>(static sp => sp.GetRequiredService<OutboxContextCoverageCheck>());
        }
    }

    public Task StartingAsync(CancellationToken cancellationToken)
    {
        var stores = registrations
            .Where(static d => d.ServiceType == typeof(OutboxStoreRegistration))
            .Select(static d => d.ImplementationInstance)
            .OfType<OutboxStoreRegistration>()
            .ToList();
        using var scope = scopes.CreateScope();
        var contexts = registrations
            .Where(static d => !d.IsKeyedService && d.ServiceType.IsGenericType && d.ServiceType.GetGenericTypeDefinition() == typeof(DbContextOptions<>))
            .Select(static d => d.ServiceType.GetGenericArguments()[0])
            .Distinct()
            .Where(c => !IsCovered(stores, c, scope.ServiceProvider))
            .ToList();
        CheckSharedTables(stores, scope.ServiceProvider);
        if (contexts.Count == 0 || stores.Count == 0)
        {
            return Task.CompletedTask;
        }

        foreach (var type in contexts)
        {
            if (scope.ServiceProvider.GetService(type) is not DbContext context
                || context.GetService<IDbContextOptions>().FindExtension<OutboxDbContextOptionsExtension>() is null
                || context.Model.FindEntityType(typeof(OutboxRecord)) is null)
            {
                continue;
            }

            throw new InvalidOperationException(
                $"{type.Name} publishes into its outbox tables (UseOutbox(sp) and modelBuilder.AddOutbox()), but no outbox of this host keeps its store " +
                $"there, so its messages would be written and never dispatched. The outboxes are: {string.Join(", ", stores.Select(static s => s.Call))}. " +
                $"Add one for it: services.AddOutbox(\"<name>\").UsePostgreSql<{type.Name}>() (or UseSqlite) with a transport.");
        }

        return Task.CompletedTask;
    }

    /// <summary>
    /// Whether an outbox keeps its store in <paramref name="context"/>: registered for that type, or for a base type the
    /// application resolves as it (<c>AddDbContext&lt;PaymentsDb, SqlitePaymentsDb&gt;</c> + <c>UseSqlite&lt;PaymentsDb&gt;()</c>).
    /// </summary>
    private static bool IsCovered(List<OutboxStoreRegistration> stores, Type context, IServiceProvider services) =>
        OutboxStoreRegistration.Of(stores, context) is not null
        || stores.Any(s => s.Context != context && s.Context.IsAssignableFrom(context) && services.GetService(s.Context)?.GetType() == context);

    /// <summary>Two outboxes whose contexts name the same database (provider, data source, database) and outbox table.</summary>
    private static void CheckSharedTables(List<OutboxStoreRegistration> stores, IServiceProvider services)
    {
        if (stores.Count < 2)
        {
            return;
        }

        var seen = new Dictionary<string, OutboxStoreRegistration>(StringComparer.Ordinal);
        foreach (var store in stores)
        {
            string key;
            try
            {
                if (services.GetService(store.Context) is not DbContext context || context.Model.FindEntityType(typeof(OutboxRecord)) is null)
                {
                    continue; // the context's own start-up check reports it
                }

                var connection = context.Database.GetDbConnection();
                key = $"{context.Database.ProviderName}|{connection.DataSource}|{connection.Database}|{OutboxTables.From(context).Outbox}";
            }
            catch (InvalidOperationException)
            {
                continue; // no connection string: reported by the context's own start-up check
            }

            if (seen.TryGetValue(key, out var other))
            {
                throw new InvalidOperationException(
                    $"{other.Call} and {store.Call} use the same outbox table {OutboxTables.From((DbContext)services.GetRequiredService(store.Context)).Outbox} " +
                    "of the same database: each dispatcher would claim the other's messages and send them with its own options and transport. " +
                    $"Give one of them its own tables (modelBuilder.AddOutbox(o => o.Schema = \"{store.Outbox}\") in {store.Context.Name}) or its own database.");
            }

            seen.Add(key, store);
        }
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
