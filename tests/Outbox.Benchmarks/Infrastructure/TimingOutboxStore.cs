using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;

namespace Outbox.Benchmarks.Infrastructure;

/// <summary>
/// Wraps the real store that <c>UsePostgreSql</c>/<c>UseSqlite</c> registered, timing every call into
/// <see cref="StoreStats"/>. The dispatcher is unchanged: it resolves <see cref="IOutboxStore"/> and gets this.
/// </summary>
public sealed class TimingOutboxStore(IOutboxStore inner, StoreStats stats) : IOutboxStore
{
    private static readonly IReadOnlyList<OutboxMessage> Nothing = [];

    /// <summary>Replaces the last <see cref="IOutboxStore"/> registration with a timing wrapper around it.</summary>
    public static void Decorate(IServiceCollection services, StoreStats stats)
    {
        var original = services.LastOrDefault(d => d.ServiceType == typeof(IOutboxStore))
            ?? throw new InvalidOperationException("No IOutboxStore is registered to decorate.");
        services.Remove(original);
        services.AddSingleton<IOutboxStore>(sp => new TimingOutboxStore(Resolve(original, sp), stats));
    }

    public async Task<IReadOnlyList<OutboxMessage>> ClaimAsync(Guid owner, int batchSize, TimeSpan leaseDuration, CancellationToken cancellationToken)
    {
        if (!stats.TryEnterClaim())
        {
            return Nothing;
        }

        try
        {
            var started = Stopwatch.GetTimestamp();
            var batch = await inner.ClaimAsync(owner, batchSize, leaseDuration, cancellationToken);
            stats.Claimed(owner, batch.Count, started, Stopwatch.GetTimestamp());
            return batch;
        }
        finally
        {
            stats.ExitClaim();
        }
    }

    public async Task AcknowledgeAsync(Guid owner, IReadOnlyCollection<long> positions, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        await inner.AcknowledgeAsync(owner, positions, cancellationToken);
        stats.Acknowledged(owner, positions.Count, started, Stopwatch.GetTimestamp());
    }

    public Task ReleaseAsync(Guid owner, IReadOnlyList<OutboxRelease> releases, CancellationToken cancellationToken)
    {
        stats.Other();
        return inner.ReleaseAsync(owner, releases, cancellationToken);
    }

    public Task DeadLetterAsync(Guid owner, IReadOnlyList<OutboxDeadLetter> deadLetters, CancellationToken cancellationToken)
    {
        stats.Other();
        return inner.DeadLetterAsync(owner, deadLetters, cancellationToken);
    }

    public Task<long> GetLastPositionAsync(CancellationToken cancellationToken) => inner.GetLastPositionAsync(cancellationToken);

    public Task<long> CountUndeliveredAsync(long upToPosition, CancellationToken cancellationToken) =>
        inner.CountUndeliveredAsync(upToPosition, cancellationToken);

    private static IOutboxStore Resolve(ServiceDescriptor descriptor, IServiceProvider services) =>
        (IOutboxStore)(descriptor.ImplementationInstance
            ?? descriptor.ImplementationFactory?.Invoke(services)
            ?? ActivatorUtilities.CreateInstance(services, descriptor.ImplementationType!));
}
