using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Outbox;

/// <summary>Fails start-up with a clear message when the dispatcher would run without a store or a transport.</summary>
internal sealed class OutboxRegistrationValidator(IServiceProviderIsService isService) : IValidateOptions<OutboxDispatcherOptions>
{
    public ValidateOptionsResult Validate(string? name, OutboxDispatcherOptions options)
    {
        if (!options.Enabled)
        {
            return ValidateOptionsResult.Success;
        }

        var failures = new List<string>();
        if (!isService.IsService(typeof(IOutboxStore)))
        {
            failures.Add("No outbox store is registered: call UsePostgreSql<TContext>() or UseSqlite<TContext>() on AddOutbox(), or set Outbox:Dispatcher:Enabled to false in a process that only publishes.");
        }

        if (!isService.IsService(typeof(IMessageTransport)))
        {
            failures.Add("No message transport is registered: call UseRabbitMq(...), UseInMemoryTransport() or UseTransport<T>() on AddOutbox(), or set Outbox:Dispatcher:Enabled to false in a process that only publishes.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
