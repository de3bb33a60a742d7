using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.Extensions.Logging;

namespace Outbox.EntityFrameworkCore;

/// <summary>
/// Remembers the messages <c>Publish</c> added to one context since its last successful <c>SaveChanges</c>, and logs
/// a warning naming their types when the context ends (disposed, or returned to its pool) with some still unsaved:
/// the mistake of publishing without saving otherwise looks like success (a 202, and nothing ever sent). A scoped
/// service of the context's EF Core service provider, so it lives and ends with the context.
/// </summary>
internal sealed class OutboxUnsavedPublishWatch(IDbContextOptions options, ICurrentDbContext current) : IDisposable, IResettableService
{
    private readonly List<string> _messageTypes = [];
    private string _context = "DbContext";

    public void Published(string context, string messageType)
    {
        _context = context;
        _messageTypes.Add(messageType);
    }

    public void Saved() => _messageTypes.Clear();

    public void Dispose() => Report();

    /// <summary>
    /// The context goes back to its pool (<c>AddDbContextPool</c>): reports what it left unsaved, and forgets the
    /// publishing state the interceptor keeps for it, so that its next lease starts from nothing.
    /// </summary>
    public void ResetState()
    {
        Report();
        OutboxSaveChangesInterceptor.Reset(current.Context);
    }

    public Task ResetStateAsync(CancellationToken cancellationToken = default)
    {
        ResetState();
        return Task.CompletedTask;
    }

    private void Report()
    {
        if (_messageTypes.Count == 0)
        {
            return;
        }

        var count = _messageTypes.Count;
        var types = string.Join(", ", _messageTypes.Distinct(StringComparer.Ordinal));
        _messageTypes.Clear();
        if (options.FindExtension<OutboxDbContextOptionsExtension>()?.LoggerFactory is { } loggers)
        {
            OutboxStartupLog.PublishedButNotSaved(loggers.CreateLogger("Outbox.EntityFrameworkCore.Publish"), _context, count, types);
        }
    }
}
