using Polly;

namespace Outbox;

/// <summary>How the transport pipeline is built; set through <c>OutboxBuilder.ConfigureResilience</c>.</summary>
public sealed class OutboxResilienceOptions
{
    /// <summary>
    /// Builds the pipeline around transport sends. It receives an empty builder and the dispatcher options.
    /// <value>The default value adds <see cref="OutboxResilience.AddOutboxDefaults"/>.</value>
    /// </summary>
    public Action<ResiliencePipelineBuilder, OutboxDispatcherOptions> Configure { get; set; } =
        static (builder, options) => builder.AddOutboxDefaults(options);
}
