using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Polly;
using Polly.CircuitBreaker;

namespace Outbox;

/// <summary>
/// The background service that moves committed outbox rows to the transport: claim a batch under a lease (one
/// statement), send it concurrently outside any transaction, then acknowledge, reschedule or dead-letter each row.
/// Runs <see cref="OutboxDispatcherOptions.Concurrency"/> such loops; never stops the host on an error. A tenant's
/// dispatcher runs one steady loop and adds loops up to its concurrency only while claims come back full (a backlog):
/// each added loop stops at its first empty claim or failure, so a quiet tenant costs one loop's polling.
/// </summary>
internal sealed class OutboxDispatcher : BackgroundService
{
    private static readonly TimeSpan ErrorBaseDelay = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan HalfOpenCircuitDelay = TimeSpan.FromSeconds(1);
    private const int MaxErrorLength = 2000;
    private const int LoopFailureLogEvery = 30;

    private readonly IServiceProvider _services;
    private readonly OutboxInstance _outbox;
    private readonly OutboxTransportPipeline _transportPipeline;
    private readonly OutboxEndpointStates _endpoints;
    private IOutboxStore _store = null!;
    private OutboxDispatcherHeartbeat? _heartbeat;
    private IMessageTransport _transport = null!;
    private readonly OutboxSignal _signal;
    private readonly OutboxTenantBinding? _tenant;
    private readonly TagList _tags;
    private readonly int _concurrency;
    private readonly int _steadyLoops;
    private readonly List<Task> _addedLoops = [];
    private int _runningLoops;
    private readonly OutboxDispatcherOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    // The store and transport are resolved in StartAsync, after the host has validated the options, so that a missing
    // registration is reported by OutboxRegistrationValidator's message rather than by a DI resolution error.
    public OutboxDispatcher(IServiceProvider services, OutboxInstance outbox, TimeProvider timeProvider, ILogger<OutboxDispatcher> logger)
        : this(services, outbox, tenant: null, concurrency: null, timeProvider, logger)
    {
    }

    /// <summary>
    /// The dispatcher of one tenant database of a database-per-tenant outbox (see <see cref="OutboxTenantDispatcher"/>):
    /// the tenant's own store, wake-up signal and heartbeat; the outbox's transports, pipelines and circuits (the
    /// endpoints are the same whichever tenant sends).
    /// </summary>
    internal OutboxDispatcher(
        IServiceProvider services, OutboxInstance outbox, OutboxTenantBinding? tenant, int? concurrency, TimeProvider timeProvider, ILogger<OutboxDispatcher> logger)
    {
        _concurrency = concurrency ?? outbox.DispatcherOptions(services).Concurrency;
        _steadyLoops = tenant is null ? _concurrency : 1;
        _services = services;
        _outbox = outbox;
        _tenant = tenant;
        _transportPipeline = services.GetRequiredKeyedService<OutboxTransportPipeline>(outbox.Name);
        _endpoints = services.GetRequiredKeyedService<OutboxEndpointStates>(outbox.Name);
        _signal = tenant?.Signal ?? services.GetRequiredKeyedService<OutboxSignal>(outbox.Name);
        _options = outbox.DispatcherOptions(services);
        _time = timeProvider;
        _logger = logger;
        _tags = new TagList { outbox.Tag };
        if (tenant is not null)
        {
            _tags.Add(tenant.MetricTag);
        }
    }

    /// <summary>How many claim loops are running now (steady and added).</summary>
    internal int RunningLoops => Volatile.Read(ref _runningLoops);

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        if (_options.Enabled)
        {
            _store = _tenant?.Store ?? _outbox.Resolve<IOutboxStore>(_services) ?? throw new InvalidOperationException($"Outbox '{_outbox.Name}' has no store.");
            _transport = _outbox.Resolve<IMessageTransport>(_services) ?? throw new InvalidOperationException($"Outbox '{_outbox.Name}' has no transport.");
            _heartbeat = _tenant is not null ? _tenant.Heartbeat : _services.GetKeyedService<OutboxDispatcherHeartbeat>(_outbox.Name);
        }

        return base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Let the host finish starting before the first claim.
        await Task.Yield();

        // Every log line of this outbox's loops carries its name (the loops inherit the scope).
        using var logScope = _logger.BeginScope(new OutboxLogScope(_outbox.Name, _tenant?.TenantId));
        if (!_options.Enabled)
        {
            OutboxLog.DispatcherDisabled(_logger);
            return;
        }

        // In-flight sends may outlive the stop request by ShutdownTimeout; then they are cancelled and released.
        using var sendAbort = new CancellationTokenSource(Timeout.InfiniteTimeSpan, _time);
        using var registration = stoppingToken.Register(
            static state =>
            {
                var (source, timeout) = ((CancellationTokenSource, TimeSpan))state!;
                try
                {
                    source.CancelAfter(timeout);
                }
                catch (ObjectDisposedException)
                {
                    // Every loop has already finished.
                }
            },
            (sendAbort, _options.ShutdownTimeout));

        OutboxLog.DispatcherStarted(_logger, _concurrency, _options.BatchSize, _options.LeaseDuration);
        var loops = new Task[_steadyLoops];
        Interlocked.Add(ref _runningLoops, loops.Length);
        for (var i = 0; i < loops.Length; i++)
        {
            loops[i] = RunLoopAsync(Guid.CreateVersion7(), added: false, stoppingToken, sendAbort.Token);
        }

        await Task.WhenAll(loops).ConfigureAwait(false);

        // Added loops stop at the same token. A loop adds another before it ends, so a snapshot in which every loop has
        // ended holds them all.
        while (true)
        {
            Task[] added;
            lock (_addedLoops)
            {
                added = [.. _addedLoops];
            }

            if (added.All(static t => t.IsCompleted))
            {
                break;
            }

            await Task.WhenAll(added).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// A claim came back full: another loop joins while fewer than the dispatcher's concurrency run (only a dispatcher
    /// with fewer steady loops than its concurrency, a tenant's, ever adds one).
    /// </summary>
    private void AddLoopIfRoom(CancellationToken stopping, CancellationToken sendAbort)
    {
        if (_steadyLoops >= _concurrency || stopping.IsCancellationRequested)
        {
            return;
        }

        int running;
        do
        {
            running = Volatile.Read(ref _runningLoops);
            if (running >= _concurrency)
            {
                return;
            }
        }
        while (Interlocked.CompareExchange(ref _runningLoops, running + 1, running) != running);

        lock (_addedLoops)
        {
            _addedLoops.RemoveAll(static t => t.IsCompleted);
            _addedLoops.Add(Task.Run(() => RunLoopAsync(Guid.CreateVersion7(), added: true, stopping, sendAbort), CancellationToken.None));
        }
    }

    private async Task RunLoopAsync(Guid owner, bool added, CancellationToken stopping, CancellationToken sendAbort)
    {
        try
        {
            await RunClaimsAsync(owner, added, stopping, sendAbort).ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Decrement(ref _runningLoops);
            _heartbeat?.Stopped(owner);
            if (added)
            {
                OutboxLog.AddedLoopStopped(_logger, owner);
            }
            else
            {
                OutboxLog.LoopStopped(_logger, owner);
            }
        }
    }

    /// <summary>
    /// Claim, send, persist outcomes, again. A steady loop runs until the host stops; an added loop (see
    /// <see cref="AddLoopIfRoom"/>) until its first empty claim or failure, leaving the idle polling and the retries
    /// to the steady loop.
    /// </summary>
    /// <remarks>
    /// How soon a loop looks again depends on how its current run of work began. Found by polling (nothing signals
    /// these commits: another process without a cross-process wake-up, a retry or a scheduled message coming due), more
    /// is likely to follow unannounced: after a short batch it claims again at once, then after an empty claim it waits
    /// a sixteenth of <see cref="OutboxDispatcherOptions.PollingInterval"/>, doubling up to it. Woken by the signal
    /// (commits that announce themselves), the next commit will wake it too: after a short batch of unkeyed messages (the
    /// claim took everything claimable) or an empty claim it waits for the signal, polling only every
    /// <see cref="OutboxDispatcherOptions.PollingInterval"/>. A quiet outbox, or a quiet tenant among many, then costs
    /// one claim per commit instead of three or four. Only a wake-up that announced commits counts
    /// (<see cref="OutboxSignal.Commits"/>); any other is treated like a poll.
    /// </remarks>
    private async Task RunClaimsAsync(Guid owner, bool added, CancellationToken stopping, CancellationToken sendAbort)
    {
        var consecutiveErrors = 0;
        var idleWait = FirstIdleWait();
        var woken = false; // the current run of work began with a wake-up signal, not a poll
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                var wake = _signal.NextNotification;
                var commits = _signal.Commits;

                // The claim is not cancelled by shutdown: a claim cut off after it committed would leave rows leased
                // until their lease expired. It is one short statement; the loop stops right after it.
                var claimedAt = _time.GetTimestamp();
                var batch = await _store.ClaimAsync(owner, _options.BatchSize, _options.LeaseDuration, CancellationToken.None).ConfigureAwait(false);
                consecutiveErrors = 0;
                _heartbeat?.Beat(owner); // the loop reached the database: the health check's "ticked recently"
                if (batch.Count == 0)
                {
                    if (added)
                    {
                        break;
                    }

                    // Adaptive idle polling after work found by polling: look again soon, then back off to PollingInterval.
                    var wait = woken ? _options.PollingInterval : idleWait;
                    woken = await WaitForWorkAsync(wake, commits, wait, stopping).ConfigureAwait(false);
                    idleWait = LongerIdleWait(wait);
                    continue;
                }

                idleWait = FirstIdleWait();
                var full = batch.Count >= _options.BatchSize;
                if (full)
                {
                    AddLoopIfRoom(stopping, sendAbort);
                }

                await DispatchBatchAsync(owner, batch, claimedAt, stopping, sendAbort).ConfigureAwait(false);
                if (woken && !full && !HasKeyed(batch))
                {
                    // Everything claimable was taken, and what commits from now on signals: wait for it (a commit
                    // during the sends has already completed the wait).
                    woken = await WaitForWorkAsync(wake, commits, _options.PollingInterval, stopping).ConfigureAwait(false);
                    if (!woken)
                    {
                        idleWait = _options.PollingInterval; // a whole interval of silence: the polls go on at that pace
                    }
                }
            }
            catch (Exception ex) when (!stopping.IsCancellationRequested || ex is not OperationCanceledException)
            {
                // Brief pauses (up to ErrorMaxDelay, 1 s by default), so that the loop is back within about a second of
                // the database accepting connections; they start over at the first statement that succeeds. Logged at
                // the first failure and then every LoopFailureLogEvery-th, so that an outage does not flood the log.
                consecutiveErrors++;
                woken = false; // the outage may have cut the wake-ups too (a listener's connection): poll soon once back
                _heartbeat?.Failed(ex);
                if (added)
                {
                    // The steady loop retries (and logs what it meets); this one's failure is on the heartbeat.
                    OutboxLog.AddedLoopFailed(_logger, ex, owner);
                    break;
                }

                var delay = RetryBackoff.Compute(consecutiveErrors, ErrorBaseDelay, _options.ErrorMaxDelay, Random.Shared.NextDouble());
                if (consecutiveErrors % LoopFailureLogEvery == 1)
                {
                    OutboxLog.LoopFailed(_logger, ex, owner, delay);
                }

                await DelayQuietlyAsync(delay, stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    private async Task DispatchBatchAsync(Guid owner, IReadOnlyList<OutboxMessage> batch, long claimedAt, CancellationToken stopping, CancellationToken sendAbort)
    {
        var outcomes = new Task<SendOutcome>[batch.Count];
        List<int>? sendable = null;
        for (var i = 0; i < batch.Count; i++)
        {
            var size = Math.Max(batch[i].PayloadSize, batch[i].Payload.Length);
            if (size > _options.MaxPayloadSize)
            {
                outcomes[i] = Task.FromResult(SendOutcome.Rejected(OversizedReason(size)));
            }
            else if (batch[i].Attempt > _options.MaxAttempts)
            {
                outcomes[i] = Task.FromResult(SendOutcome.Abandoned());
            }
            else
            {
                (sendable ??= new List<int>(batch.Count)).Add(i);
            }
        }

        if (sendable is not null)
        {
            if (_transport is IMessageBatchTransport batchTransport && sendable.Count > 1)
            {
                StartGroupedSends(batchTransport, batch, sendable, outcomes, sendAbort);
            }
            else
            {
                foreach (var i in sendable)
                {
                    outcomes[i] = SendAsync(batch[i], sendAbort);
                }
            }
        }

        await Task.WhenAll(outcomes).ConfigureAwait(false);

        List<long>? delivered = null;
        List<OutboxRelease>? releases = null;
        List<OutboxDeadLetter>? deadLetters = null;
        var aborted = 0;
        Dictionary<string, CircuitOpenSummary>? circuitsOpen = null;
        for (var i = 0; i < batch.Count; i++)
        {
            var message = batch[i];
            var outcome = outcomes[i].Result;
            switch (outcome.Kind)
            {
                case SendOutcomeKind.Delivered:
                    (delivered ??= new List<long>(batch.Count)).Add(message.Position);
                    break;
                case SendOutcomeKind.Aborted:
                    aborted++;
                    (releases ??= []).Add(new OutboxRelease(message.Position, TimeSpan.Zero, null, RefundAttempt: true));
                    break;
                case SendOutcomeKind.CircuitOpen:
                    // The destination's endpoint is failing: the send was not tried, so the attempt is given back.
                    circuitsOpen ??= new Dictionary<string, CircuitOpenSummary>(StringComparer.Ordinal);
                    circuitsOpen[message.Destination] = new CircuitOpenSummary(
                        circuitsOpen.GetValueOrDefault(message.Destination).Count + 1,
                        outcome.RetryAfter,
                        outcome.Error!);
                    (releases ??= []).Add(new OutboxRelease(message.Position, outcome.RetryAfter, outcome.Error, RefundAttempt: true));
                    break;
                case SendOutcomeKind.Rejected:
                    OutboxLog.DeadLettered(_logger, message.MessageId, message.MessageType, message.Attempt, outcome.Error!);
                    (deadLetters ??= []).Add(new OutboxDeadLetter(message.Position, outcome.Error!));
                    break;
                case SendOutcomeKind.Abandoned:
                    var abandonedReason =
                        $"Claimed {message.Attempt} times (limit {_options.MaxAttempts}) without an outcome: the dispatcher holding it crashed or " +
                        "stopped while sending it each time.";
                    OutboxLog.DeadLettered(_logger, message.MessageId, message.MessageType, message.Attempt, abandonedReason);
                    (deadLetters ??= []).Add(new OutboxDeadLetter(message.Position, abandonedReason));
                    break;
                default:
                    if (message.Attempt >= _options.MaxAttempts)
                    {
                        var reason = $"Failed {message.Attempt} attempt(s) (limit {_options.MaxAttempts}). Last error: {outcome.Error}";
                        OutboxLog.DeadLettered(_logger, message.MessageId, message.MessageType, message.Attempt, reason);
                        (deadLetters ??= []).Add(new OutboxDeadLetter(message.Position, Truncate(reason)));
                    }
                    else
                    {
                        var delay = RetryBackoff.Compute(message.Attempt, _options.RetryBaseDelay, _options.RetryMaxDelay, Random.Shared.NextDouble());
                        OutboxLog.SendFailed(_logger, outcome.Exception!, message.MessageId, message.MessageType, message.Attempt, delay);
                        (releases ??= []).Add(new OutboxRelease(message.Position, delay, outcome.Error, RefundAttempt: false));
                    }

                    break;
            }
        }

        if (circuitsOpen is not null)
        {
            foreach (var (destination, summary) in circuitsOpen)
            {
                OutboxLog.CircuitOpen(_logger, destination, summary.Count, summary.RetryAfter, summary.Cause);
                OutboxTelemetry.CircuitRefused.Add(summary.Count, Tags(new KeyValuePair<string, object?>("messaging.destination.name", destination)));
            }
        }

        if (releases is not null)
        {
            var retried = releases.Count(r => !r.RefundAttempt);
            if (retried > 0)
            {
                OutboxTelemetry.Retried.Add(retried, _tags);
            }
        }

        if (deadLetters is not null)
        {
            OutboxTelemetry.DeadLettered.Add(deadLetters.Count, Tags(new KeyValuePair<string, object?>("outbox.side", "outbox")));
        }

        // Outcomes are persisted even when the host is stopping: each is one short statement.
        if (delivered is not null)
        {
            await PersistAsync(static (s, o, d) => s.AcknowledgeAsync(o, d, CancellationToken.None), owner, delivered, claimedAt, stopping).ConfigureAwait(false);
        }

        if (releases is not null)
        {
            await PersistAsync(static (s, o, r) => s.ReleaseAsync(o, r, CancellationToken.None), owner, releases, claimedAt, stopping).ConfigureAwait(false);
        }

        if (deadLetters is not null)
        {
            await PersistAsync(static (s, o, d) => s.DeadLetterAsync(o, d, CancellationToken.None), owner, deadLetters, claimedAt, stopping).ConfigureAwait(false);
        }

        if (aborted > 0)
        {
            OutboxLog.ReleasedOnShutdown(_logger, owner, aborted);
        }
    }

    private async Task<SendOutcome> SendAsync(OutboxMessage message, CancellationToken sendAbort)
    {
        // The dispatch span continues the publisher's trace; transports propagate Activity.Current (this span).
        using var activity = StartDispatchActivity(message);
        var started = Stopwatch.GetTimestamp();
        try
        {
            await _transportPipeline.For(message.Destination).ExecuteAsync(
                static (state, token) => new ValueTask(state.Transport.SendAsync(state.Message, token)),
                (Transport: _transport, Message: message),
                sendAbort).ConfigureAwait(false);
            _endpoints.Delivered(message.Destination);
            return Delivered(message, started);
        }
        catch (OperationCanceledException) when (sendAbort.IsCancellationRequested)
        {
            return SendOutcome.Aborted();
        }
        catch (BrokenCircuitException ex)
        {
            return CircuitOpened(message.Destination, 1, ex);
        }
        catch (Exception ex)
        {
            return Failed(activity, message, ex);
        }
    }

    /// <summary>
    /// Sends the messages of each destination through <paramref name="transport"/> in the groups it makes of them
    /// (<see cref="IMessageBatchTransport.Split"/>): a group of one as a single send, a larger group in one round trip.
    /// Fills <paramref name="outcomes"/> at the indexes of <paramref name="sendable"/>.
    /// </summary>
    private void StartGroupedSends(
        IMessageBatchTransport transport, IReadOnlyList<OutboxMessage> batch, List<int> sendable, Task<SendOutcome>[] outcomes, CancellationToken sendAbort)
    {
        var byDestination = new Dictionary<string, List<OutboxMessage>>(StringComparer.Ordinal);
        var indexOf = new Dictionary<OutboxMessage, int>(ReferenceEqualityComparer.Instance);
        foreach (var i in sendable)
        {
            indexOf[batch[i]] = i;
            if (!byDestination.TryGetValue(batch[i].Destination, out var list))
            {
                byDestination[batch[i].Destination] = list = [];
            }

            list.Add(batch[i]);
        }

        foreach (var messages in byDestination.Values)
        {
            var groups = messages.Count == 1 ? [messages] : transport.Split(messages);
            foreach (var group in groups)
            {
                // Only messages of this claim, each once: anything else the transport returned is not sent.
                var known = group.Where(m => indexOf.TryGetValue(m, out var i) && outcomes[i] is null).Distinct(ReferenceEqualityComparer.Instance).Cast<OutboxMessage>().ToList();
                if (known.Count == 1)
                {
                    outcomes[indexOf[known[0]]] = SendAsync(known[0], sendAbort);
                    continue;
                }

                if (known.Count > 1)
                {
                    var sent = SendGroupAsync(transport, known, sendAbort);
                    for (var j = 0; j < known.Count; j++)
                    {
                        outcomes[indexOf[known[j]]] = OutcomeAtAsync(sent, j);
                    }
                }
            }
        }

        // A message the transport left out of every group is sent on its own.
        foreach (var i in sendable)
        {
            outcomes[i] ??= SendAsync(batch[i], sendAbort);
        }

        static async Task<SendOutcome> OutcomeAtAsync(Task<SendOutcome[]> group, int index) => (await group.ConfigureAwait(false))[index];
    }

    /// <summary>One round trip for several messages of one destination, through that destination's pipeline.</summary>
    private async Task<SendOutcome[]> SendGroupAsync(IMessageBatchTransport transport, List<OutboxMessage> group, CancellationToken sendAbort)
    {
        var destination = group[0].Destination;
        using var activity = StartDispatchActivity(group);
        var started = Stopwatch.GetTimestamp();
        var outcomes = new SendOutcome[group.Count];
        try
        {
            var results = await _transportPipeline.For(destination).ExecuteAsync(
                static (state, token) => new ValueTask<IReadOnlyList<Exception?>>(state.Transport.SendBatchAsync(state.Group, token)),
                (Transport: transport, Group: group),
                sendAbort).ConfigureAwait(false);
            if (results.Count != group.Count)
            {
                throw new InvalidOperationException(
                    $"{transport.GetType().FullName}.SendBatchAsync returned {results.Count} results for {group.Count} messages.");
            }

            var delivered = false;
            for (var j = 0; j < group.Count; j++)
            {
                delivered |= results[j] is null;
                outcomes[j] = results[j] is { } error ? Failed(activity, group[j], error) : Delivered(group[j], started);
            }

            if (delivered)
            {
                _endpoints.Delivered(destination);
            }
        }
        catch (OperationCanceledException) when (sendAbort.IsCancellationRequested)
        {
            Array.Fill(outcomes, SendOutcome.Aborted());
        }
        catch (BrokenCircuitException ex)
        {
            Array.Fill(outcomes, CircuitOpened(destination, group.Count, ex));
        }
        catch (Exception ex)
        {
            // The round trip failed: one endpoint failure, every message of the group tried again later.
            _endpoints.EndpointFailed(destination, ex);
            for (var j = 0; j < group.Count; j++)
            {
                RecordFailure(activity, group[j], ex, "endpoint");
                outcomes[j] = SendOutcome.Failed(ex, Truncate(Describe(ex)));
            }
        }

        return outcomes;
    }

    private SendOutcome Delivered(OutboxMessage message, long started)
    {
        var destination = new KeyValuePair<string, object?>("messaging.destination.name", message.Destination);
        OutboxTelemetry.Dispatched.Add(1, Tags(destination));
        OutboxTelemetry.DispatchDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, Tags(destination));
        if (message.CreatedAt != default)
        {
            OutboxTelemetry.DeliveryLatency.Record(Math.Max(0, (_time.GetUtcNow() - message.CreatedAt).TotalSeconds), Tags(destination));
        }

        return SendOutcome.Delivered();
    }

    /// <summary>
    /// A failed send of <paramref name="message"/>: refused by the receiver (the message's failure: an attempt spent, or
    /// a dead letter when permanent; the endpoint's breaker never saw it) or an endpoint failure.
    /// </summary>
    private SendOutcome Failed(Activity? activity, OutboxMessage message, Exception exception)
    {
        if (exception is MessageRejectedException rejected)
        {
            RecordFailure(activity, message, exception, "message");
            return rejected.IsPermanent
                ? SendOutcome.Rejected(Truncate($"Rejected by the transport: {exception.Message}"))
                : SendOutcome.Failed(exception, Truncate(Describe(exception)));
        }

        _endpoints.EndpointFailed(message.Destination, exception);
        RecordFailure(activity, message, exception, "endpoint");
        return SendOutcome.Failed(exception, Truncate(Describe(exception)));
    }

    /// <summary>Open: wait out the break. Half-open (a probe is in flight): look again soon.</summary>
    private SendOutcome CircuitOpened(string destination, int count, BrokenCircuitException exception)
    {
        var open = exception.RetryAfter is { } after && after > TimeSpan.Zero;
        _endpoints.Refused(destination, count, halfOpen: !open, exception.InnerException);
        return SendOutcome.CircuitOpened(open ? exception.RetryAfter!.Value : HalfOpenCircuitDelay, Truncate(DescribeCircuit(destination, exception)));
    }

    /// <summary>
    /// Writes a batch's outcomes. When the write fails (the database went away after the claim), it is tried again
    /// with the loop's brief pauses while the batch's lease holds and the host is not stopping: once the database is
    /// back, delivered rows are acknowledged rather than left leased until the lease expires and then sent again.
    /// The writes are fenced by the lease owner, so a late one never touches a row someone else has claimed since.
    /// </summary>
    private async Task PersistAsync<T>(Func<IOutboxStore, Guid, T, Task> write, Guid owner, T outcomes, long claimedAt, CancellationToken stopping)
    {
        for (var failures = 1; ; failures++)
        {
            try
            {
                await write(_store, owner, outcomes).ConfigureAwait(false);
                return;
            }
            catch (Exception ex) when (!stopping.IsCancellationRequested)
            {
                var delay = RetryBackoff.Compute(failures, ErrorBaseDelay, _options.ErrorMaxDelay, Random.Shared.NextDouble());
                if (_time.GetElapsedTime(claimedAt) + delay >= _options.LeaseDuration)
                {
                    throw;
                }

                if (failures % LoopFailureLogEvery == 1)
                {
                    OutboxLog.LoopFailed(_logger, ex, owner, delay);
                }

                await DelayQuietlyAsync(delay, stopping).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// A row above the limit got into the table anyway (written by SQL, or the limit lowered since): the store left its
    /// payload out of the claim, and it is dead-lettered unsent.
    /// </summary>
    private string OversizedReason(long size) =>
        $"The payload is {size} bytes, above the limit of {_options.MaxPayloadSize} bytes " +
        $"({nameof(OutboxDispatcherOptions)}.{nameof(OutboxDispatcherOptions.MaxPayloadSize)}, {_outbox.DispatcherSection}:{nameof(OutboxDispatcherOptions.MaxPayloadSize)}); " +
        "it was not read or sent. Requeue it once the limit allows it, or replace the message.";

    private void RecordFailure(Activity? activity, OutboxMessage message, Exception exception, string failureOf)
    {
        activity?.SetStatus(ActivityStatusCode.Error, exception.Message);
        activity?.SetTag("error.type", exception.GetType().FullName);
        var tags = Tags(new KeyValuePair<string, object?>("messaging.destination.name", message.Destination));
        tags.Add("outbox.failure", failureOf);
        OutboxTelemetry.Failed.Add(1, tags);
    }

    /// <summary>
    /// The open circuit and the endpoint failure that opened it: Polly keeps it as the inner exception; when it kept
    /// none (a half-open circuit refusing sends while its probe is in flight), the last endpoint failure this
    /// dispatcher saw for the destination. This is what a pending row's last error shows, never Polly's bare
    /// "The circuit is now open" text.
    /// </summary>
    private string DescribeCircuit(string destination, BrokenCircuitException exception) =>
        (exception.InnerException is { } cause ? Describe(cause) : _endpoints.LastFailure(destination)) is { } last
            ? $"The circuit of destination '{destination}' is open after endpoint failures; the last: {last}"
            : $"The circuit of destination '{destination}' is open after endpoint failures.";

    /// <summary>
    /// The span of a round trip carrying several messages: linked to each message's publisher, so every trace shows it;
    /// the transport hands this span to the receiver as each message's parent.
    /// </summary>
    private Activity? StartDispatchActivity(List<OutboxMessage> group)
    {
        if (!OutboxTelemetry.Source.HasListeners())
        {
            return null;
        }

        var links = new List<ActivityLink>(group.Count);
        foreach (var message in group)
        {
            if (ActivityContext.TryParse(message.TraceParent, null, out var publisher))
            {
                links.Add(new ActivityLink(publisher));
            }
        }

        var activity = OutboxTelemetry.Source.StartActivity($"send {group[0].Destination}", ActivityKind.Producer, parentContext: default, links: links);
        if (activity is not null)
        {
            activity.SetTag("messaging.system", "outbox");
            activity.SetTag("outbox.name", _outbox.Name);
            activity.SetTag("outbox.tenant", _tenant?.TenantId);
            activity.SetTag("messaging.operation.type", "send");
            activity.SetTag("messaging.destination.name", group[0].Destination);
            activity.SetTag("messaging.batch.message_count", group.Count);
        }

        return activity;
    }

    private Activity? StartDispatchActivity(OutboxMessage message)
    {
        if (!OutboxTelemetry.Source.HasListeners())
        {
            return null;
        }

        ActivityContext.TryParse(message.TraceParent, null, out var publisher);
        var activity = OutboxTelemetry.Source.StartActivity(
            $"send {message.Destination}",
            ActivityKind.Producer,
            publisher,
            links: publisher == default ? null : [new ActivityLink(publisher)]);
        if (activity is not null)
        {
            activity.SetTag("messaging.system", "outbox");
            activity.SetTag("outbox.name", _outbox.Name);
            activity.SetTag("outbox.tenant", _tenant?.TenantId);
            activity.SetTag("messaging.operation.type", "send");
            activity.SetTag("messaging.destination.name", message.Destination);
            activity.SetTag("messaging.message.id", message.MessageId.ToString());
            activity.SetTag("outbox.message_type", message.MessageType);
            activity.SetTag("outbox.attempt", message.Attempt);
            if (message.PartitionKey is not null)
            {
                activity.SetTag("outbox.partition_key", message.PartitionKey);
            }
        }

        return activity;
    }

    /// <summary>This dispatcher's metric tags (<c>outbox.name</c>, and <c>outbox.tenant</c> for a tenant's) and <paramref name="tag"/>.</summary>
    private TagList Tags(KeyValuePair<string, object?> tag)
    {
        var tags = _tags;
        tags.Add(tag);
        return tags;
    }

    /// <summary>The next idle wait: twice <paramref name="wait"/>, at most <see cref="OutboxDispatcherOptions.PollingInterval"/>.</summary>
    private TimeSpan LongerIdleWait(TimeSpan wait) => TimeSpan.FromTicks(Math.Min(wait.Ticks * 2, _options.PollingInterval.Ticks));

    private TimeSpan FirstIdleWait() => TimeSpan.FromTicks(Math.Max(_options.PollingInterval.Ticks / 16, TimeSpan.TicksPerMillisecond));

    /// <summary>
    /// Waits for <paramref name="wake"/> or <paramref name="wait"/>. Returns whether announced commits ended it: the
    /// signal fired and its commit count moved past <paramref name="commits"/> (read with <paramref name="wake"/>, before
    /// the claim). Any other wake-up (a listener starting, a nudge) is treated like a poll.
    /// </summary>
    private async Task<bool> WaitForWorkAsync(Task wake, long commits, TimeSpan wait, CancellationToken stopping)
    {
        if (!wake.IsCompleted)
        {
            using var cancelDelay = CancellationTokenSource.CreateLinkedTokenSource(stopping);
            var delay = Task.Delay(wait, _time, cancelDelay.Token);
            var first = await Task.WhenAny(wake, delay).ConfigureAwait(false);
            await cancelDelay.CancelAsync().ConfigureAwait(false);
            if (first != wake)
            {
                return false;
            }
        }

        return _signal.Commits != commits;
    }

    /// <summary>Whether the batch holds keyed messages: a keyed claim is short by design (a key's next row waits for its predecessor).</summary>
    private static bool HasKeyed(IReadOnlyList<OutboxMessage> batch)
    {
        for (var i = 0; i < batch.Count; i++)
        {
            if (batch[i].PartitionKey is not null)
            {
                return true;
            }
        }

        return false;
    }

    private async Task DelayQuietlyAsync(TimeSpan delay, CancellationToken stopping)
    {
        try
        {
            await Task.Delay(delay, _time, stopping).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    private static string Describe(Exception exception) => $"{exception.GetType().FullName}: {exception.Message}";

    private static string Truncate(string text) => text.Length <= MaxErrorLength ? text : string.Concat(text.AsSpan(0, MaxErrorLength - 1), "…");

    private readonly record struct CircuitOpenSummary(int Count, TimeSpan RetryAfter, string Cause);

    private enum SendOutcomeKind
    {
        Delivered,
        Failed,
        Rejected,
        Aborted,
        CircuitOpen,
        Abandoned,
    }

    private readonly record struct SendOutcome(SendOutcomeKind Kind, string? Error, Exception? Exception, TimeSpan RetryAfter)
    {
        public static SendOutcome Delivered() => new(SendOutcomeKind.Delivered, null, null, default);

        public static SendOutcome Failed(Exception exception, string error) => new(SendOutcomeKind.Failed, error, exception, default);

        public static SendOutcome Rejected(string reason) => new(SendOutcomeKind.Rejected, reason, null, default);

        public static SendOutcome Aborted() => new(SendOutcomeKind.Aborted, null, null, default);

        public static SendOutcome CircuitOpened(TimeSpan retryAfter, string error) => new(SendOutcomeKind.CircuitOpen, error, null, retryAfter);

        public static SendOutcome Abandoned() => new(SendOutcomeKind.Abandoned, null, null, default);
    }
}
