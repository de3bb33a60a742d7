using System.Net.Sockets;
using Microsoft.Extensions.Time.Testing;

namespace Outbox.Tests.Resilience;

public sealed class OutboxEndpointStatesTests
{
    private static readonly DateTimeOffset Start = new(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);

    [Fact]
    public void Snapshot_Empty_ListsNothing()
    {
        var states = new OutboxEndpointStates(new FakeTimeProvider(Start));

        Assert.Empty(states.Snapshot());
        Assert.Null(states.LastFailure("orders"));
    }

    [Fact]
    public void Refused_AfterEndpointFailure_IsOpenSinceThenWithTheFailureAsCause()
    {
        var time = new FakeTimeProvider(Start);
        var states = new OutboxEndpointStates(time);
        states.EndpointFailed("orders", new SocketException((int)SocketError.ConnectionRefused, "Connection refused"));
        time.Advance(TimeSpan.FromSeconds(2));

        states.Refused("orders", 3, halfOpen: false, cause: null);
        states.Refused("orders", 2, halfOpen: false, cause: null);

        var state = Assert.Single(states.Snapshot());
        Assert.Equal(
            new OutboxEndpointState("orders", OutboxCircuitState.Open, Start.AddSeconds(2), typeof(SocketException).FullName, "Connection refused", Start, 5),
            state);
        Assert.Equal("System.Net.Sockets.SocketException: Connection refused", states.LastFailure("orders"));
    }

    [Fact]
    public void Refused_WithPollysInnerException_UsesItAsCause()
    {
        var states = new OutboxEndpointStates(new FakeTimeProvider(Start));

        states.Refused("orders", 1, halfOpen: false, cause: new TimeoutException("no answer in 30 s"));

        var state = Assert.Single(states.Snapshot());
        Assert.Equal((OutboxCircuitState.Open, "System.TimeoutException", "no answer in 30 s"), (state.State, state.CauseType, state.Cause));
    }

    [Fact]
    public void Delivered_AfterOpen_ClosesAndClearsTheCause()
    {
        var time = new FakeTimeProvider(Start);
        var states = new OutboxEndpointStates(time);
        states.EndpointFailed("orders", new InvalidOperationException("broker down"));
        states.Refused("orders", 1, halfOpen: false, cause: null);
        time.Advance(TimeSpan.FromSeconds(5));
        states.Refused("orders", 1, halfOpen: true, cause: null);
        Assert.Equal((OutboxCircuitState.HalfOpen, Start.AddSeconds(5)), (states.Snapshot()[0].State, states.Snapshot()[0].Since));
        time.Advance(TimeSpan.FromSeconds(1));

        states.Delivered("orders");

        var state = Assert.Single(states.Snapshot());
        Assert.Equal((OutboxCircuitState.Closed, Start.AddSeconds(6), null, null), (state.State, state.Since, state.CauseType, state.Cause));
    }

    [Fact]
    public void EndpointFailed_WhileHalfOpen_OpensAgainForTheNewFailure()
    {
        var time = new FakeTimeProvider(Start);
        var states = new OutboxEndpointStates(time);
        states.EndpointFailed("orders", new InvalidOperationException("first"));
        states.Refused("orders", 1, halfOpen: true, cause: null);
        time.Advance(TimeSpan.FromSeconds(3));

        states.EndpointFailed("orders", new TimeoutException("probe timed out"));

        var state = Assert.Single(states.Snapshot());
        Assert.Equal((OutboxCircuitState.Open, Start.AddSeconds(3), "probe timed out"), (state.State, state.Since, state.Cause));
    }

    [Fact]
    public void Snapshot_SeveralDestinations_OpenFirstAndEachItsOwn()
    {
        var states = new OutboxEndpointStates(new FakeTimeProvider(Start));
        states.EndpointFailed("a-healthy-again", new InvalidOperationException("blip"));
        states.Delivered("a-healthy-again");
        states.EndpointFailed("z-down", new InvalidOperationException("down"));
        states.Refused("z-down", 1, halfOpen: false, cause: null);
        states.Delivered("never-failed");

        var snapshot = states.Snapshot();

        Assert.Equal(["z-down", "a-healthy-again"], snapshot.Select(s => s.Destination));
        Assert.Equal([OutboxCircuitState.Open, OutboxCircuitState.Closed], snapshot.Select(s => s.State));
    }

    [Fact]
    public void EndpointFailed_BeyondMaxDestinations_ForgetsClosedOnesFirstAndNeverGrowsPastTheLimit()
    {
        var states = new OutboxEndpointStates(new FakeTimeProvider(Start));
        for (var i = 0; i < OutboxEndpointStates.MaxDestinations; i++)
        {
            states.Refused($"d{i}", 1, halfOpen: false, cause: new InvalidOperationException("down"));
        }

        states.Refused("one-more", 1, halfOpen: false, cause: new InvalidOperationException("down"));
        Assert.Equal(OutboxEndpointStates.MaxDestinations, states.Snapshot().Count);
        Assert.DoesNotContain(states.Snapshot(), s => s.Destination == "one-more");

        states.Delivered("d0");
        states.Refused("one-more", 1, halfOpen: false, cause: new InvalidOperationException("down"));
        Assert.Equal(OutboxEndpointStates.MaxDestinations, states.Snapshot().Count);
        Assert.Contains(states.Snapshot(), s => s.Destination == "one-more");
    }
}
