using System.Security.Claims;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Outbox.AspNetCore;

/// <summary>The JSON endpoints of the admin API, mapped on the group <c>MapOutboxAdmin</c> creates.</summary>
internal static class OutboxAdminEndpoints
{
    public static void Map(RouteGroupBuilder group)
    {
        var api = group.MapGroup("/api");
        api.MapGet("/outboxes", Handler(ListOutboxesAsync));
        api.MapGet("/tenants", (HttpContext http) =>
        {
            var outbox = OutboxAdminTarget.Of(http);
            return outbox.Tenants(http.RequestServices) is { } tenants
                ? Results.Json(new OutboxTenantsResponse(outbox.Name, tenants.Tenants), OutboxAdminJsonContext.Default.OutboxTenantsResponse)
                : NotFound($"Outbox '{outbox.Name}' does not keep a database per tenant (UseDatabasePerTenant).");
        });
        api.MapGet("/stats", Handler(StatsAsync));
        api.MapGet("/endpoints", (HttpContext http) => Results.Json(
            new OutboxEndpointsResponse(OutboxEndpointResponse.From(Endpoints(http))),
            OutboxAdminJsonContext.Default.OutboxEndpointsResponse));
        api.MapGet("/pending", Handler(http => ListAsync(http, deadLetters: false)));
        api.MapGet("/pending/{id}", (HttpContext http, string id) => GetAsync(http, id, deadLetters: false));
        api.MapGet("/dead-letters", Handler(http => ListAsync(http, deadLetters: true)));
        api.MapGet("/dead-letters/{id}", (HttpContext http, string id) => GetAsync(http, id, deadLetters: true));
        api.MapPost("/dead-letters/requeue", Handler(RequeueAsync));
        api.MapPost("/dead-letters/purge", Handler(async http =>
        {
            var store = await OutboxAsync(http).ConfigureAwait(false);
            return await PurgeAsync(http, "outbox", store.PurgeDeadLettersAsync, store.PurgeDeadLettersBeforeAsync).ConfigureAwait(false);
        }));
        api.MapGet("/inbox/dead-letters", Handler(ListInboxAsync));
        api.MapGet("/inbox/dead-letters/{id}", GetInboxAsync);
        api.MapPost("/inbox/dead-letters/purge", Handler(http => Inbox(http) is { } store
            ? PurgeAsync(http, "inbox", store.PurgeDeadLettersAsync, store.PurgeDeadLettersBeforeAsync)
            : Task.FromResult(NoInbox())));
        api.AddEndpointFilter(async (context, next) =>
        {
            context.HttpContext.Response.Headers.CacheControl = "no-store";
            try
            {
                return await next(context).ConfigureAwait(false);
            }
            catch (OutboxAdminTarget.UnknownOutboxException ex)
            {
                return NotFound(ex.Message);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !context.HttpContext.RequestAborted.IsCancellationRequested)
            {
                var http = context.HttpContext;
                var logger = Logger(http);
                if (logger.IsEnabled(LogLevel.Error))
                {
                    OutboxAdminLog.RequestFailed(logger, ex, http.Request.Method, http.Request.Path.Value ?? "");
                }

                return Results.Problem(
                    statusCode: StatusCodes.Status503ServiceUnavailable,
                    title: "The outbox store failed.",
                    detail: $"{ex.GetType().Name}; see the server log (event 4010) for details.");
            }
        });
    }

    private static async Task<IResult> StatsAsync(HttpContext http)
    {
        var metrics = http.RequestServices.GetRequiredService<OutboxMetricsAggregator>();
        var options = http.RequestServices.GetRequiredService<IOptions<OutboxAdminOptions>>();
        var (reading, error) = await ReadBacklogAsync(http, OutboxAdminTarget.Of(http).Name).ConfigureAwait(false);

        var inbox = http.RequestServices.GetService<IInboxAdminStore>();
        var response = new OutboxStatsResponse
        {
            Backlog = reading,
            BacklogError = error,
            BucketSeconds = metrics.BucketSize.TotalSeconds,
            RefreshSeconds = options.Value.DashboardRefresh.TotalSeconds,
            InboxAvailable = inbox is not null && await inbox.IsAvailableAsync(http.RequestAborted).ConfigureAwait(false),
            Series = metrics.Snapshot(),
            Endpoints = OutboxEndpointResponse.From(Endpoints(http)),
        };
        return Results.Json(response, OutboxAdminJsonContext.Default.OutboxStatsResponse);
    }

    private static async Task<IResult> ListOutboxesAsync(HttpContext http)
    {
        var target = OutboxAdminTarget.DefaultOf(http.RequestServices);
        var outboxes = new List<OutboxSummaryResponse>();
        foreach (var outbox in http.RequestServices.GetServices<OutboxInstance>())
        {
            var (reading, error) = await ReadBacklogAsync(http, outbox.Name).ConfigureAwait(false);
            outboxes.Add(new OutboxSummaryResponse(outbox.Name, outbox.Name == target?.Name, reading, error, outbox.Tenants(http.RequestServices)?.Tenants.Count));
        }

        return Results.Json(new OutboxesResponse(outboxes), OutboxAdminJsonContext.Default.OutboxesResponse);
    }

    private static async Task<(OutboxBacklogResponse? Reading, string? Error)> ReadBacklogAsync(HttpContext http, string outbox)
    {
        var backlog = http.RequestServices.GetRequiredService<OutboxBacklogReaders>().For(outbox);
        try
        {
            return await backlog.ReadAsync(http.RequestAborted).ConfigureAwait(false) is { } r
                ? (new OutboxBacklogResponse(r.Pending, Math.Round(r.OldestAge.TotalSeconds, 3), r.OldestCreatedAt, r.DeadLetters, r.ReadAt), null)
                : (null, "No outbox store reports the backlog in this process.");
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            return (null, $"The backlog cannot be read: {ex.GetType().Name}.");
        }
    }

    private static OutboxEndpointStates? Endpoints(HttpContext http) =>
        http.RequestServices.GetKeyedService<OutboxEndpointStates>(OutboxAdminTarget.Of(http).Name);

    private static async Task<IResult> ListAsync(HttpContext http, bool deadLetters)
    {
        var store = await OutboxAsync(http).ConfigureAwait(false);
        var errors = new Dictionary<string, string[]>();
        if (OutboxAdminRequest.ReadQuery(http.Request.Query, errors) is not { } query)
        {
            return OutboxAdminRequest.Invalid(errors);
        }

        var page = deadLetters
            ? await store.ListDeadLettersAsync(query, http.RequestAborted).ConfigureAwait(false)
            : await store.ListPendingAsync(query, http.RequestAborted).ConfigureAwait(false);
        return Results.Json(page, OutboxAdminJsonContext.Default.OutboxAdminPageOutboxAdminMessage);
    }

    private static async Task<IResult> GetAsync(HttpContext http, string idText, bool deadLetters)
    {
        var store = await OutboxAsync(http).ConfigureAwait(false);
        var errors = new Dictionary<string, string[]>();
        if (OutboxAdminRequest.Id(idText, errors) is not { } id)
        {
            return OutboxAdminRequest.Invalid(errors);
        }

        var message = deadLetters
            ? await store.GetDeadLetterAsync(id, http.RequestAborted).ConfigureAwait(false)
            : await store.GetPendingAsync(id, http.RequestAborted).ConfigureAwait(false);
        return message is null
            ? NotFound(deadLetters ? $"No dead letter has id {id}." : $"No message waits in the outbox at position {id}.")
            : Results.Json(message, OutboxAdminJsonContext.Default.OutboxAdminMessage);
    }

    private static async Task<IResult> RequeueAsync(HttpContext http)
    {
        var store = await OutboxAsync(http).ConfigureAwait(false);
        var (body, problem) = await OutboxAdminRequest.ReadBodyAsync(http.Request, OutboxAdminJsonContext.Default.OutboxIdsRequest).ConfigureAwait(false);
        if (problem is not null)
        {
            return problem;
        }

        var errors = new Dictionary<string, string[]>();
        if (OutboxAdminRequest.Ids(body!.Ids, errors) is not { } ids)
        {
            return OutboxAdminRequest.Invalid(errors);
        }

        // No CancellationToken: once asked, the move commits or not as a whole; a dropped connection must not cut it.
        var result = await store.RequeueDeadLettersAsync(ids, CancellationToken.None).ConfigureAwait(false);
        var logger = Logger(http);
        if (logger.IsEnabled(LogLevel.Information))
        {
            var user = User(http);
            OutboxAdminLog.Requeued(logger, user, result.Requeued.Count, result.NotFound.Count);
        }

        if (result.Requeued.Count == 0)
        {
            return Results.Problem(
                statusCode: StatusCodes.Status404NotFound,
                title: "Not found",
                detail: $"None of the ids is a dead letter: {string.Join(", ", result.NotFound)}.",
                extensions: new Dictionary<string, object?> { ["notFound"] = result.NotFound });
        }

        return Results.Json(result, OutboxAdminJsonContext.Default.OutboxRequeueResult);
    }

    private static async Task<IResult> PurgeAsync(
        HttpContext http,
        string table,
        Func<IReadOnlyCollection<long>, CancellationToken, Task<int>> purgeIds,
        Func<DateTimeOffset, CancellationToken, Task<int>> purgeBefore)
    {
        var (body, problem) = await OutboxAdminRequest.ReadBodyAsync(http.Request, OutboxAdminJsonContext.Default.OutboxPurgeRequest).ConfigureAwait(false);
        if (problem is not null)
        {
            return problem;
        }

        if ((body!.Ids is not null) == (body.Before is not null))
        {
            return OutboxAdminRequest.Invalid("ids", "Give either 'ids' (a list of dead-letter ids) or 'before' (an ISO 8601 time), not both.");
        }

        if (body.Before is { } before)
        {
            var purged = await purgeBefore(before, CancellationToken.None).ConfigureAwait(false);
            var logger = Logger(http);
            if (logger.IsEnabled(LogLevel.Information))
            {
                var user = User(http);
                OutboxAdminLog.PurgedBefore(logger, user, purged, table, before);
            }

            return Results.Json(new OutboxPurgeResponse(purged), OutboxAdminJsonContext.Default.OutboxPurgeResponse);
        }

        var errors = new Dictionary<string, string[]>();
        if (OutboxAdminRequest.Ids(body.Ids, errors) is not { } ids)
        {
            return OutboxAdminRequest.Invalid(errors);
        }

        var count = await purgeIds([.. ids], CancellationToken.None).ConfigureAwait(false);
        var log = Logger(http);
        if (log.IsEnabled(LogLevel.Information))
        {
            var user = User(http);
            OutboxAdminLog.PurgedByIds(log, user, count, table);
        }

        return Results.Json(new OutboxPurgeResponse(count), OutboxAdminJsonContext.Default.OutboxPurgeResponse);
    }

    private static async Task<IResult> ListInboxAsync(HttpContext http)
    {
        if (Inbox(http) is not { } store)
        {
            return NoInbox();
        }

        var errors = new Dictionary<string, string[]>();
        var consumer = OutboxAdminRequest.Consumer(http.Request.Query, errors);
        if (OutboxAdminRequest.ReadQuery(http.Request.Query, errors) is not { } query)
        {
            return OutboxAdminRequest.Invalid(errors);
        }

        var page = await store.ListDeadLettersAsync(query, consumer, http.RequestAborted).ConfigureAwait(false);
        return Results.Json(page, OutboxAdminJsonContext.Default.OutboxAdminPageInboxAdminDeadLetter);
    }

    private static async Task<IResult> GetInboxAsync(HttpContext http, string id)
    {
        if (Inbox(http) is not { } store)
        {
            return NoInbox();
        }

        var errors = new Dictionary<string, string[]>();
        if (OutboxAdminRequest.Id(id, errors) is not { } value)
        {
            return OutboxAdminRequest.Invalid(errors);
        }

        var deadLetter = await store.GetDeadLetterAsync(value, http.RequestAborted).ConfigureAwait(false);
        return deadLetter is null
            ? NotFound($"No inbox dead letter has id {value}.")
            : Results.Json(deadLetter, OutboxAdminJsonContext.Default.InboxAdminDeadLetter);
    }

    // A lambda taking only HttpContext would bind as a RequestDelegate and drop its IResult: type it as a Func.
    private static Func<HttpContext, Task<IResult>> Handler(Func<HttpContext, Task<IResult>> handler) => handler;

    private static async Task<IOutboxAdminStore> OutboxAsync(HttpContext http)
    {
        var outbox = OutboxAdminTarget.Of(http);
        if (outbox.Tenants(http.RequestServices) is { } tenants)
        {
            // A database per tenant: the rows are in the tenant's database, named by ?tenant= (and found through the
            // tenant source even where this host's dispatcher is disabled).
            var asked = http.Request.Query[OutboxAdminTarget.TenantParameter].ToString();
            if (asked.Length == 0)
            {
                throw new OutboxAdminTarget.UnknownOutboxException(
                    $"Outbox '{outbox.Name}' keeps a database per tenant: add ?{OutboxAdminTarget.TenantParameter}=<tenant id> (GET .../tenants lists the running ones).");
            }

            return await tenants.AdminStoreAsync(asked, http.RequestAborted).ConfigureAwait(false)
                ?? throw new OutboxAdminTarget.UnknownOutboxException($"Outbox '{outbox.Name}' has no tenant '{asked}': its tenant source does not list it.");
        }

        return outbox.Resolve<IOutboxAdminStore>(http.RequestServices)
            ?? throw new OutboxAdminTarget.UnknownOutboxException($"Outbox '{outbox.Name}' has no admin store (UsePostgreSql<TContext>() or UseSqlite<TContext>()).");
    }

    private static IInboxAdminStore? Inbox(HttpContext http) => http.RequestServices.GetService<IInboxAdminStore>();

    private static IResult NoInbox() => NotFound("No inbox admin store is registered in this process (see AddInboxAdmin<TContext>()).");

    private static IResult NotFound(string detail) => Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "Not found", detail: detail);

    private static string User(HttpContext http) =>
        http.User.Identity is { IsAuthenticated: true } identity ? identity.Name ?? http.User.FindFirstValue(ClaimTypes.NameIdentifier) ?? "(authenticated)" : "(anonymous)";

    private static ILogger Logger(HttpContext http) =>
        http.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Outbox.AspNetCore.OutboxAdmin");
}
