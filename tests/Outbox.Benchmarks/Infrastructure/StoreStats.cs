using System.Collections.Concurrent;
using System.Diagnostics;
using Outbox.Benchmarks.Reporting;

namespace Outbox.Benchmarks.Infrastructure;

/// <summary>
/// What <see cref="TimingOutboxStore"/> saw, summed over every loop of every host of a run: claim and acknowledge
/// latencies, batch sizes, and the send phase (from a claim's return to its loop's acknowledge) that the dispatcher
/// spends in its own code. Together they say where a loop's time goes.
/// </summary>
public sealed class StoreStats
{
    private readonly ConcurrentDictionary<Guid, long> _claimReturnedAt = new();
    private long _claims;
    private long _emptyClaims;
    private long _claimedRows;
    private long _claimTicks;
    private long _acks;
    private long _ackedRows;
    private long _ackTicks;
    private long _sendPhaseTicks;
    private long _otherCalls;
    private bool _paused;
    private long _claimsInFlight;
    private long _phaseStarted = long.MaxValue;

    /// <summary>While set, claims return nothing without touching the database: lets the harness fill the table first.</summary>
    public bool Paused
    {
        get => Volatile.Read(ref _paused);
        set => Volatile.Write(ref _paused, value);
    }

    /// <summary>
    /// Pauses the claims and waits for those already under way: a claim that started just before the pause must not
    /// run on into the next phase (on SQLite it would wait for the pre-fill's write lock, then take rows from it).
    /// </summary>
    public async Task PauseAsync()
    {
        Paused = true;
        while (Interlocked.Read(ref _claimsInFlight) > 0)
        {
            await Task.Delay(1);
        }
    }

    /// <summary>Called by the store before a claim; false when paused (the claim must then return nothing).</summary>
    internal bool TryEnterClaim()
    {
        // Count first, then look: PauseAsync sets Paused, then waits for the count, so no claim slips through.
        Interlocked.Increment(ref _claimsInFlight);
        if (!Paused)
        {
            return true;
        }

        ExitClaim();
        return false;
    }

    internal void ExitClaim() => Interlocked.Decrement(ref _claimsInFlight);

    public LatencyHistogram ClaimLatency { get; } = new();

    public LatencyHistogram AckLatency { get; } = new();

    public long Claims => Interlocked.Read(ref _claims);

    public long EmptyClaims => Interlocked.Read(ref _emptyClaims);

    public long ClaimedRows => Interlocked.Read(ref _claimedRows);

    public long Acks => Interlocked.Read(ref _acks);

    public long AckedRows => Interlocked.Read(ref _ackedRows);

    /// <summary>Release and dead-letter calls: none are expected in a clean run with the null transport.</summary>
    public long OtherCalls => Interlocked.Read(ref _otherCalls);

    public TimeSpan ClaimTime => Stopwatch.GetElapsedTime(0, Interlocked.Read(ref _claimTicks));

    public TimeSpan AckTime => Stopwatch.GetElapsedTime(0, Interlocked.Read(ref _ackTicks));

    public TimeSpan SendPhaseTime => Stopwatch.GetElapsedTime(0, Interlocked.Read(ref _sendPhaseTicks));

    /// <summary>
    /// Starts recording a measured phase: only calls that start after this and end before <see cref="EndPhase"/> are
    /// counted (a claim that straddles a phase boundary, e.g. one blocked by the next pre-fill's write lock on SQLite,
    /// would otherwise count the pre-fill as claim time).
    /// </summary>
    public void BeginPhase() => Interlocked.Exchange(ref _phaseStarted, Stopwatch.GetTimestamp());

    public void EndPhase() => Interlocked.Exchange(ref _phaseStarted, long.MaxValue);

    private bool InPhase(long started) => started >= Interlocked.Read(ref _phaseStarted);

    internal void Claimed(Guid owner, int rows, long started, long ended)
    {
        if (!InPhase(started))
        {
            return;
        }

        Interlocked.Increment(ref _claims);
        Interlocked.Add(ref _claimTicks, ended - started);
        ClaimLatency.RecordTicks(ended - started);
        if (rows == 0)
        {
            Interlocked.Increment(ref _emptyClaims);
            return;
        }

        Interlocked.Add(ref _claimedRows, rows);
        _claimReturnedAt[owner] = ended;
    }

    internal void Acknowledged(Guid owner, int rows, long started, long ended)
    {
        if (!InPhase(started))
        {
            return;
        }

        Interlocked.Increment(ref _acks);
        Interlocked.Add(ref _ackedRows, rows);
        Interlocked.Add(ref _ackTicks, ended - started);
        AckLatency.RecordTicks(ended - started);
        if (_claimReturnedAt.TryRemove(owner, out var claimReturned))
        {
            Interlocked.Add(ref _sendPhaseTicks, started - claimReturned);
        }
    }

    internal void Other() => Interlocked.Increment(ref _otherCalls);

    public void Reset()
    {
        EndPhase();
        _claimReturnedAt.Clear();
        Interlocked.Exchange(ref _claims, 0);
        Interlocked.Exchange(ref _emptyClaims, 0);
        Interlocked.Exchange(ref _claimedRows, 0);
        Interlocked.Exchange(ref _claimTicks, 0);
        Interlocked.Exchange(ref _acks, 0);
        Interlocked.Exchange(ref _ackedRows, 0);
        Interlocked.Exchange(ref _ackTicks, 0);
        Interlocked.Exchange(ref _sendPhaseTicks, 0);
        Interlocked.Exchange(ref _otherCalls, 0);
        ClaimLatency.Reset();
        AckLatency.Reset();
    }
}
