using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Outbox;

/// <summary>
/// Warns when the host starts that a consumer has handlers but no transport feeds it (no <c>UseRabbitMq(...)</c>,
/// <c>UseHttp()</c>, ...), the set-up in which the host starts normally and the messages wait in the queue forever.
/// A transport package is recognised by the keyed service it registers under the consumer's name. A warning rather
/// than a failure: a custom transport may call <see cref="IInboxReceiver"/> itself, which no registration shows.
/// </summary>
internal sealed class InboxConsumerTransportCheck(IServiceCollection services, ILogger<InboxConsumerTransportCheck> logger) : IHostedLifecycleService
{
    private static readonly string[] LibraryAssemblies = ["Outbox", "Outbox.EntityFrameworkCore"];

    public Task StartingAsync(CancellationToken cancellationToken)
    {
        var registries = services
            .Where(static d => d.IsKeyedService && d.ServiceType == typeof(InboxHandlerRegistry))
            .Select(static d => d.KeyedImplementationInstance)
            .OfType<InboxHandlerRegistry>()
            .Where(static r => r.Count > 0);
        foreach (var registry in registries)
        {
            var name = registry.Consumer;
            var fed = services.Any(d => d.IsKeyedService && Equals(d.ServiceKey, name)
                && !LibraryAssemblies.Contains(d.ServiceType.Assembly.GetName().Name, StringComparer.Ordinal));
            if (!fed)
            {
                var handled = string.Join(", ", registry.Handlers.Select(static h => h.MessageType));
                InboxStartupLog.ConsumerWithoutTransport(logger, name, handled);
            }
        }

        return Task.CompletedTask;
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>Start-up diagnostics of consumers (event ids 6100-6199).</summary>
internal static partial class InboxStartupLog
{
    [LoggerMessage(EventId = 2101, Level = LogLevel.Warning, Message = "Consumer {Consumer} has handlers ({MessageTypes}) but no transport delivers messages to it, so none will reach them: add one to AddOutboxConsumer<TContext>(\"{Consumer}\"), for example .UseRabbitMq(queue: \"...\") (Outbox.RabbitMQ) or .UseHttp() with app.MapOutboxHttpInbox(\"/inbox/{{consumer}}\") (Outbox.Http). A custom transport that calls IInboxReceiver itself can ignore this warning.")]
    public static partial void ConsumerWithoutTransport(ILogger logger, string consumer, string messageTypes);
}
