using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Outbox;
using Outbox.EntityFrameworkCore;

namespace Microsoft.EntityFrameworkCore;

/// <summary>Connects a DbContext to the application's outbox services.</summary>
public static class OutboxDbContextOptionsBuilderExtensions
{
    /// <summary>
    /// Makes <c>Publish</c> on this context use the application's serializer and clock, and wake this process's
    /// dispatcher as soon as a unit of work that published commits. Without it, <c>Publish</c> uses System.Text.Json
    /// and delivery waits for the dispatcher's next poll. Call it inside <c>AddDbContext((sp, options) => ...)</c>.
    /// </summary>
    public static DbContextOptionsBuilder UseOutbox(this DbContextOptionsBuilder optionsBuilder, IServiceProvider services)
    {
        ArgumentNullException.ThrowIfNull(optionsBuilder);
        ArgumentNullException.ThrowIfNull(services);
        var serializer = services.GetService<IMessageSerializer>() ?? SystemTextJsonMessageSerializer.Default;
        var signal = services.GetService<OutboxSignal>();
        var time = services.GetService<TimeProvider>() ?? TimeProvider.System;
        ((IDbContextOptionsBuilderInfrastructure)optionsBuilder).AddOrUpdateExtension(new OutboxDbContextOptionsExtension(serializer, signal, time));
        if (signal is not null)
        {
            optionsBuilder.AddInterceptors(new OutboxCommitSignalInterceptor(signal));
        }

        return optionsBuilder;
    }
}
