using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Outbox;
using Outbox.EntityFrameworkCore;

namespace Microsoft.EntityFrameworkCore;

/// <summary>Connects a DbContext to the application's outbox services.</summary>
public static class OutboxDbContextOptionsBuilderExtensions
{
    /// <summary>
    /// Connects the context to the outbox: keyed messages get their per-key sequence number in the publishing
    /// transaction, <c>Publish</c> uses the outbox's serializer (its own, else the host's), the application's clock and
    /// the outbox's payload limit (<see cref="OutboxDispatcherOptions.MaxPayloadSize"/>), and this process's dispatcher wakes as
    /// soon as a unit of work that published commits. The outbox is the one whose store is this context
    /// (<c>AddOutbox("name").UsePostgreSql&lt;TContext&gt;()</c>), else the default outbox. Call it inside <c>AddDbContext((sp, options) => ...)</c>.
    /// </summary>
    public static DbContextOptionsBuilder UseOutbox(this DbContextOptionsBuilder optionsBuilder, IServiceProvider services)
    {
        ArgumentNullException.ThrowIfNull(optionsBuilder);
        ArgumentNullException.ThrowIfNull(services);
        // The outbox whose store is this context: its wake-up signal, payload limit and serializer (the default outbox's
        // when none is; a named outbox without a serializer of its own uses the host's).
        var outbox = OutboxStoreRegistration.Of(services.GetServices<OutboxStoreRegistration>(), optionsBuilder.Options.ContextType)?.Outbox
            ?? OutboxInstance.DefaultName;
        var serializer = (outbox == OutboxInstance.DefaultName ? null : services.GetKeyedService<IMessageSerializer>(outbox))
            ?? services.GetService<IMessageSerializer>()
            ?? SystemTextJsonMessageSerializer.Default;
        var signal = services.GetKeyedService<OutboxSignal>(outbox);
        var time = services.GetService<TimeProvider>() ?? TimeProvider.System;
        var maxPayloadSize = services.GetService<IOptionsMonitor<OutboxDispatcherOptions>>()?.Get(OutboxInstance.OptionsNameOf(outbox)).MaxPayloadSize
            ?? new OutboxDispatcherOptions().MaxPayloadSize;
        ((IDbContextOptionsBuilderInfrastructure)optionsBuilder).AddOrUpdateExtension(new OutboxDbContextOptionsExtension(serializer, signal, time, maxPayloadSize, services.GetService<Microsoft.Extensions.Logging.ILoggerFactory>()));
        return optionsBuilder.AddInterceptors(new OutboxSaveChangesInterceptor(signal));
    }

    /// <summary>
    /// Connects the context to the outbox without application services: System.Text.Json, the system clock, the default
    /// payload limit, and no
    /// in-process wake-up (a dispatcher in another process finds the messages by polling). For tools and tests.
    /// </summary>
    public static DbContextOptionsBuilder UseOutbox(this DbContextOptionsBuilder optionsBuilder)
    {
        ArgumentNullException.ThrowIfNull(optionsBuilder);
        ((IDbContextOptionsBuilderInfrastructure)optionsBuilder).AddOrUpdateExtension(
            new OutboxDbContextOptionsExtension(SystemTextJsonMessageSerializer.Default, null, TimeProvider.System, new OutboxDispatcherOptions().MaxPayloadSize));
        return optionsBuilder.AddInterceptors(new OutboxSaveChangesInterceptor(null));
    }

    /// <inheritdoc cref="UseOutbox(DbContextOptionsBuilder, IServiceProvider)"/>
    public static DbContextOptionsBuilder<TContext> UseOutbox<TContext>(this DbContextOptionsBuilder<TContext> optionsBuilder, IServiceProvider services)
        where TContext : DbContext =>
        (DbContextOptionsBuilder<TContext>)UseOutbox((DbContextOptionsBuilder)optionsBuilder, services);

    /// <inheritdoc cref="UseOutbox(DbContextOptionsBuilder)"/>
    public static DbContextOptionsBuilder<TContext> UseOutbox<TContext>(this DbContextOptionsBuilder<TContext> optionsBuilder)
        where TContext : DbContext =>
        (DbContextOptionsBuilder<TContext>)UseOutbox((DbContextOptionsBuilder)optionsBuilder);
}
