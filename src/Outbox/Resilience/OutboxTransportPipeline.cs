using Microsoft.Extensions.Options;
using Polly;

namespace Outbox;

/// <summary>The built resilience pipeline around the transport, one per service provider.</summary>
internal sealed class OutboxTransportPipeline
{
    public OutboxTransportPipeline(IOptions<OutboxResilienceOptions> resilience, IOptions<OutboxDispatcherOptions> dispatcher, TimeProvider timeProvider)
    {
        var builder = new ResiliencePipelineBuilder { Name = OutboxResilience.PipelineName, TimeProvider = timeProvider };
        resilience.Value.Configure(builder, dispatcher.Value);
        Pipeline = builder.Build();
    }

    public ResiliencePipeline Pipeline { get; }
}
