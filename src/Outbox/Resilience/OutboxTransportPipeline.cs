using Microsoft.Extensions.Options;
using Polly;
using Polly.Registry;

namespace Outbox;

/// <summary>
/// The resilience pipelines around the transport, one per destination, built on first use from
/// <see cref="OutboxResilienceOptions.Configure"/> by a Polly <see cref="ResiliencePipelineRegistry{TKey}"/>. One per
/// service provider; disposing it disposes the pipelines.
/// </summary>
internal sealed class OutboxTransportPipeline : IDisposable
{
    private readonly ResiliencePipelineRegistry<string> _registry;
    private readonly Action<ResiliencePipelineBuilder, OutboxDispatcherOptions> _configure;
    private readonly OutboxDispatcherOptions _options;
    private readonly Action<ResiliencePipelineBuilder, ConfigureBuilderContext<string>> _build;

    public OutboxTransportPipeline(IOptions<OutboxResilienceOptions> resilience, IOptions<OutboxDispatcherOptions> dispatcher, TimeProvider timeProvider)
    {
        _configure = resilience.Value.Configure;
        _options = dispatcher.Value;
        _registry = new ResiliencePipelineRegistry<string>(new ResiliencePipelineRegistryOptions<string>
        {
            BuilderFactory = () => new ResiliencePipelineBuilder { TimeProvider = timeProvider },
            BuilderNameFormatter = static _ => OutboxResilience.PipelineName,
            InstanceNameFormatter = static destination => destination,
        });
        _build = (builder, _) => _configure(builder, _options);
    }

    /// <summary>The pipeline of <paramref name="destination"/>: its own circuit breaker, shared by nobody else.</summary>
    public ResiliencePipeline For(string destination) =>
        _registry.GetOrAddPipeline(destination, _build);

    public void Dispose() => _registry.Dispose();
}
