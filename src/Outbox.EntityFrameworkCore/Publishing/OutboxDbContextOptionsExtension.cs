using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Outbox.EntityFrameworkCore;

/// <summary>
/// Carries the application's outbox services (serializer, signal, clock) into a <see cref="Microsoft.EntityFrameworkCore.DbContext"/>.
/// Added by <c>optionsBuilder.UseOutbox(serviceProvider)</c>.
/// </summary>
internal sealed class OutboxDbContextOptionsExtension(
    IMessageSerializer serializer, OutboxSignal? signal, TimeProvider timeProvider, int maxPayloadSize, ILoggerFactory? loggerFactory = null) : IDbContextOptionsExtension
{
    private DbContextOptionsExtensionInfo? _info;

    public IMessageSerializer Serializer { get; } = serializer;

    public OutboxSignal? Signal { get; } = signal;

    public TimeProvider TimeProvider { get; } = timeProvider;

    /// <summary>The largest payload <c>Publish</c> accepts (<see cref="OutboxDispatcherOptions.MaxPayloadSize"/>).</summary>
    public int MaxPayloadSize { get; } = maxPayloadSize;

    /// <summary>The application's loggers, for the warning about messages published but never saved.</summary>
    public ILoggerFactory? LoggerFactory { get; } = loggerFactory;

    public DbContextOptionsExtensionInfo Info => _info ??= new ExtensionInfo(this);

    public void ApplyServices(IServiceCollection services)
    {
        // One per context: warns when the context ends with messages published but never saved.
        services.AddScoped<OutboxUnsavedPublishWatch>();
        services.AddScoped<Microsoft.EntityFrameworkCore.Infrastructure.IResettableService>(static sp => sp.GetRequiredService<OutboxUnsavedPublishWatch>());
    }

    public void Validate(IDbContextOptions options)
    {
    }

    private sealed class ExtensionInfo(IDbContextOptionsExtension extension) : DbContextOptionsExtensionInfo(extension)
    {
        public override bool IsDatabaseProvider => false;

        public override string LogFragment => "using Outbox ";

        public override int GetServiceProviderHashCode() => 0;

        public override bool ShouldUseSameServiceProvider(DbContextOptionsExtensionInfo other) => other is ExtensionInfo;

        public override void PopulateDebugInfo(IDictionary<string, string> debugInfo) => debugInfo["Outbox"] = "1";
    }
}
