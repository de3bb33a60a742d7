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
        services.TryAddSingleton<OutboxBacklogReader>();
        services.TryAddSingleton<OutboxBacklogHealthCheck>();
        services.TryAddSingleton<OutboxDeadLetterHealthCheck>();
        services.TryAddSingleton<OutboxDispatcherHealthCheck>();

        var tagList = (tags ?? ["outbox"]).ToArray();
        builder.Add(new HealthCheckRegistration(BacklogCheckName, static sp => sp.GetRequiredService<OutboxBacklogHealthCheck>(), null, tagList));
        builder.Add(new HealthCheckRegistration(DeadLettersCheckName, static sp => sp.GetRequiredService<OutboxDeadLetterHealthCheck>(), null, tagList));
        builder.Add(new HealthCheckRegistration(DispatcherCheckName, static sp => sp.GetRequiredService<OutboxDispatcherHealthCheck>(), null, tagList));
        return builder;
    }
}

/// <summary>Marks a service collection the outbox health checks were added to.</summary>
internal sealed class OutboxHealthChecksMarker;
