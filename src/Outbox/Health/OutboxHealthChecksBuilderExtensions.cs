using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Outbox;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the outbox health checks; they need no ASP.NET Core (a worker service can publish them too).</summary>
public static class OutboxHealthChecksBuilderExtensions
{
    /// <summary>The name of the check on the age of the oldest waiting message.</summary>
    public const string BacklogCheckName = "outbox-backlog";

    /// <summary>The name of the check on the dead-letter table.</summary>
    public const string DeadLettersCheckName = "outbox-dead-letters";

    /// <summary>The name of the check on the dispatcher loops' heartbeat.</summary>
    public const string DispatcherCheckName = "outbox-dispatcher";

    /// <summary>
    /// Adds three checks: <c>outbox-backlog</c> (the oldest waiting message's age), <c>outbox-dead-letters</c> (count
    /// and growth) and <c>outbox-dispatcher</c> (a loop that stopped completing claims), with thresholds from
    /// <see cref="OutboxHealthCheckOptions"/> (section <c>Outbox:HealthChecks</c>, then <paramref name="configure"/>),
    /// validated at start-up. They read the backlog the <see cref="OutboxBacklogMonitor"/> keeps, never the database
    /// per probe. Calling it twice adds the checks once.
    /// </summary>
    /// <param name="builder">The health checks builder (<c>services.AddHealthChecks()</c>).</param>
    /// <param name="configure">Sets thresholds in code.</param>
    /// <param name="tags">Tags of the three checks, to filter them per endpoint; the default is <c>["outbox"]</c>.</param>
    public static IHealthChecksBuilder AddOutboxHealthChecks(
        this IHealthChecksBuilder builder,
        Action<OutboxHealthCheckOptions>? configure = null,
        IEnumerable<string>? tags = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        if (configure is not null)
        {
            services.Configure(configure);
        }

        if (services.Any(static d => d.ServiceType == typeof(OutboxHealthChecksMarker)))
        {
            return builder;
        }

        services.AddSingleton<OutboxHealthChecksMarker>();
        services.AddOptions<OutboxHealthCheckOptions>()
            .BindConfiguration(OutboxHealthCheckOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<OutboxHealthCheckOptions>, OutboxHealthCheckOptionsValidator>());
        services.AddOptions<OutboxDispatcherOptions>();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<OutboxDispatcherHeartbeat>();
        services.TryAddSingleton<OutboxBacklogReaders>();
        services.TryAddSingleton(static sp => sp.GetRequiredService<OutboxBacklogReaders>().For(OutboxInstance.DefaultName));

        // Added when the health check service reads its options, so that outboxes registered after this call count too.
        var tagList = (tags ?? ["outbox"]).ToArray();
        services.AddSingleton<IConfigureOptions<HealthCheckServiceOptions>>(sp => new ConfigureNamedOptions<HealthCheckServiceOptions>(
            Options.Options.DefaultName,
            o => AddChecks(o, sp.GetServices<OutboxInstance>(), tagList)));
        return builder;
    }

    /// <summary>A registration whose check is made once (the dead-letter check remembers its last count) from the services' singletons.</summary>
    private static HealthCheckRegistration Once(string name, Func<IServiceProvider, IHealthCheck> create, string[] tags)
    {
        IHealthCheck? check = null;
        return new HealthCheckRegistration(name, sp => LazyInitializer.EnsureInitialized(ref check, () => create(sp)), null, tags);
    }

    /// <summary>
    /// The three checks of each outbox: named as above for the default outbox (or when no outbox is registered), and
    /// <c>outbox-backlog:{name}</c> etc. for a named outbox.
    /// </summary>
    private static void AddChecks(HealthCheckServiceOptions options, IEnumerable<OutboxInstance> registered, string[] tags)
    {
        var outboxes = registered.ToList();
        if (outboxes.Count == 0)
        {
            outboxes.Add(new OutboxInstance(OutboxInstance.DefaultName));
        }

        foreach (var outbox in outboxes)
        {
            var suffix = outbox.IsDefault ? string.Empty : $":{outbox.Name}";
            var name = outbox.Name;
            options.Registrations.Add(Once(
                BacklogCheckName + suffix,
                sp => new OutboxBacklogHealthCheck(sp.GetRequiredService<OutboxBacklogReaders>().For(name), sp.GetRequiredService<IOptionsMonitor<OutboxHealthCheckOptions>>()),
                tags));
            options.Registrations.Add(Once(
                DeadLettersCheckName + suffix,
                sp => new OutboxDeadLetterHealthCheck(
                    sp.GetRequiredService<OutboxBacklogReaders>().For(name), sp.GetRequiredService<IOptionsMonitor<OutboxHealthCheckOptions>>(), sp.GetRequiredService<TimeProvider>()),
                tags));
            options.Registrations.Add(Once(
                DispatcherCheckName + suffix,
                sp => new OutboxDispatcherHealthCheck(
                    sp.GetKeyedService<OutboxDispatcherHeartbeat>(name) ?? sp.GetRequiredService<OutboxDispatcherHeartbeat>(),
                    sp.GetRequiredService<IOptionsMonitor<OutboxDispatcherOptions>>().Get(outbox.OptionsName),
                    sp.GetRequiredService<IOptionsMonitor<OutboxHealthCheckOptions>>(),
                    sp.GetRequiredService<TimeProvider>()),
                tags));
        }
    }
}

/// <summary>Marks a service collection the outbox health checks were added to.</summary>
internal sealed class OutboxHealthChecksMarker;
