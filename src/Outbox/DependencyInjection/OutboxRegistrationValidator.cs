using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Outbox;

/// <summary>Fails start-up with a clear message when an outbox's dispatcher would run without a store or a transport.</summary>
internal sealed class OutboxRegistrationValidator(IServiceProvider services) : IValidateOptions<OutboxDispatcherOptions>
{
    public ValidateOptionsResult Validate(string? name, OutboxDispatcherOptions options)
    {
        var outbox = services.GetKeyedService<OutboxInstance>(OutboxInstance.NameOf(name));
        if (!options.Enabled || outbox is null)
        {
            return ValidateOptionsResult.Success;
        }

        var call = outbox.IsDefault ? "AddOutbox()" : $"AddOutbox(\"{outbox.Name}\")";
        var enabled = $"{outbox.DispatcherSection}:{nameof(OutboxDispatcherOptions.Enabled)}";
        var failures = new List<string>();
        if (!outbox.Has(services, typeof(IOutboxStore)))
        {
            failures.Add($"No outbox store is registered for outbox '{outbox.Name}': call UsePostgreSql<TContext>() or UseSqlite<TContext>() on {call}, or set {enabled} to false in a process that only publishes.");
        }

        if (!outbox.Has(services, typeof(IMessageTransport)))
        {
            failures.Add($"No message transport is registered for outbox '{outbox.Name}': call UseRabbitMq(...), UseInMemoryTransport() or UseTransport<T>() on {call}, or set {enabled} to false in a process that only publishes.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
