using System.Text.Json;
using System.Text.Json.Serialization;

namespace Outbox.AspNetCore;

/// <summary>Body of <c>POST .../dead-letters/requeue</c>.</summary>
internal sealed record OutboxIdsRequest(IReadOnlyList<long>? Ids);

/// <summary>Body of <c>POST .../dead-letters/purge</c>: ids, or a cutoff, not both.</summary>
internal sealed record OutboxPurgeRequest(IReadOnlyList<long>? Ids, DateTimeOffset? Before);

/// <summary>Answer of a purge.</summary>
internal sealed record OutboxPurgeResponse(int Purged);

/// <summary>Answer of <c>GET .../stats</c>.</summary>
internal sealed record OutboxStatsResponse
{
    public OutboxBacklogResponse? Backlog { get; init; }

    public string? BacklogError { get; init; }

    public double BucketSeconds { get; init; }

    public double RefreshSeconds { get; init; }

    public bool InboxAvailable { get; init; }

    public required IReadOnlyList<OutboxStatsBucket> Series { get; init; }

    /// <summary>The destinations whose endpoint has failed, open circuits first (as <c>GET .../endpoints</c>).</summary>
    public IReadOnlyList<OutboxEndpointResponse> Endpoints { get; init; } = [];
}

/// <summary>
/// One destination's circuit, as <c>GET .../endpoints</c> shows it: its state (<c>open</c>, <c>halfOpen</c>,
/// <c>closed</c>) since when, the endpoint failure that opened it (type and message) and the sends refused since.
/// </summary>
internal sealed record OutboxEndpointResponse(
    string Destination,
    string State,
    DateTimeOffset Since,
    string? CauseType,
    string? Cause,
    DateTimeOffset? CauseAt,
    long Refused)
{
    public static IReadOnlyList<OutboxEndpointResponse> From(OutboxEndpointStates? states) =>
        states is null
            ? []
            : states.Snapshot().Select(static s => new OutboxEndpointResponse(
                s.Destination,
                s.State switch
                {
                    OutboxCircuitState.Open => "open",
                    OutboxCircuitState.HalfOpen => "halfOpen",
                    _ => "closed",
                },
                s.Since,
                s.CauseType,
                s.Cause,
                s.CauseAt,
                s.Refused)).ToList();
}

/// <summary>Answer of <c>GET .../endpoints</c>.</summary>
internal sealed record OutboxEndpointsResponse(IReadOnlyList<OutboxEndpointResponse> Endpoints);

/// <summary>The backlog reading as the stats endpoint shows it.</summary>
internal sealed record OutboxBacklogResponse(long Pending, double OldestAgeSeconds, DateTimeOffset? OldestCreatedAt, long DeadLetters, DateTimeOffset ReadAt);

/// <summary>One outbox of the host, as <c>GET .../outboxes</c> lists it.</summary>
/// <param name="Name">Its name: the <c>outbox</c> query parameter of the other endpoints.</param>
/// <param name="IsDefault">Whether the endpoints use it when the request names no outbox.</param>
/// <param name="Backlog">Its last backlog reading, when its store reports one.</param>
/// <param name="BacklogError">Why the backlog could not be read.</param>
/// <param name="Tenants">For a database-per-tenant outbox, how many tenants run (listed by <c>GET .../tenants</c>); else <see langword="null"/>.</param>
internal sealed record OutboxSummaryResponse(string Name, bool IsDefault, OutboxBacklogResponse? Backlog, string? BacklogError, int? Tenants = null);

/// <summary>Answer of <c>GET .../tenants</c>: the tenants of a database-per-tenant outbox.</summary>
internal sealed record OutboxTenantsResponse(string Outbox, IReadOnlyList<OutboxTenantStatus> Tenants);

/// <summary>Answer of <c>GET .../outboxes</c>.</summary>
internal sealed record OutboxesResponse(IReadOnlyList<OutboxSummaryResponse> Outboxes);

/// <summary>Source-generated JSON of the admin API: web defaults (camelCase), enums as strings.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, UseStringEnumConverter = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(OutboxTenantsResponse))]
[JsonSerializable(typeof(OutboxIdsRequest))]
[JsonSerializable(typeof(OutboxPurgeRequest))]
[JsonSerializable(typeof(OutboxPurgeResponse))]
[JsonSerializable(typeof(OutboxStatsResponse))]
[JsonSerializable(typeof(OutboxEndpointsResponse))]
[JsonSerializable(typeof(OutboxesResponse))]
[JsonSerializable(typeof(OutboxAdminPage<OutboxAdminMessage>))]
[JsonSerializable(typeof(OutboxAdminPage<InboxAdminDeadLetter>))]
[JsonSerializable(typeof(OutboxAdminMessage))]
[JsonSerializable(typeof(InboxAdminDeadLetter))]
[JsonSerializable(typeof(OutboxRequeueResult))]
internal sealed partial class OutboxAdminJsonContext : JsonSerializerContext;
