using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Outbox.EntityFrameworkCore;

/// <summary>
/// Fails start-up when the DbContext of a consumer has no inbox in its model, rather than failing every message later.
/// Builds the model only; it does not connect to the database.
/// </summary>
internal sealed class InboxModelValidator<TContext>(string consumer, IServiceScopeFactory scopes) : IValidateOptions<InboxConsumerOptions>
    where TContext : DbContext
{
    public ValidateOptionsResult Validate(string? name, InboxConsumerOptions options)
    {
        if (!string.Equals(name, consumer, StringComparison.Ordinal))
        {
            return ValidateOptionsResult.Skip;
        }

        using var scope = scopes.CreateScope();
        var context = scope.ServiceProvider.GetService<TContext>();
        if (context is null)
        {
            return ValidateOptionsResult.Fail(
                $"Consumer '{consumer}' uses {typeof(TContext).Name}, which is not registered: call AddDbContext<{typeof(TContext).Name}>(...).");
        }

        return InboxTables.IsMapped(context)
            ? ValidateOptionsResult.Success
            : ValidateOptionsResult.Fail(
                $"The model of {typeof(TContext).Name} (consumer '{consumer}') has no inbox tables: call modelBuilder.AddInbox() in OnModelCreating.");
    }
}
