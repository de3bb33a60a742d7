using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace Outbox.AspNetCore;

/// <summary>
/// Reads and validates admin requests by hand, so that every bad input becomes a 400 ProblemDetails naming the field
/// (framework binding would answer some of them with an empty 400, or a 404 for a malformed id).
/// </summary>
internal static class OutboxAdminRequest
{
    private const int MaxFilterLength = 512;

    /// <summary>Parses the listing query: <c>after</c>, <c>pageSize</c>, <c>order</c>, filters, <c>from</c>/<c>to</c>.</summary>
    public static OutboxAdminQuery? ReadQuery(IQueryCollection query, Dictionary<string, string[]> errors)
    {
        long? after = null;
        if (Single(query, "after", errors) is { } afterText)
        {
            if (long.TryParse(afterText, NumberStyles.None, CultureInfo.InvariantCulture, out var value))
            {
                after = value;
            }
            else
            {
                errors["after"] = ["'after' is a cursor: a non-negative integer (the 'next' of the previous page)."];
            }
        }

        var pageSize = OutboxAdminQuery.DefaultPageSize;
        if (Single(query, "pageSize", errors) is { } sizeText)
        {
            if (!int.TryParse(sizeText, NumberStyles.None, CultureInfo.InvariantCulture, out pageSize) || pageSize is < 1 or > OutboxAdminQuery.MaxPageSize)
            {
                errors["pageSize"] = [$"'pageSize' must be an integer from 1 to {OutboxAdminQuery.MaxPageSize}."];
            }
        }

        var descending = false;
        if (Single(query, "order", errors) is { } order)
        {
            if (order.Equals("desc", StringComparison.OrdinalIgnoreCase))
            {
                descending = true;
            }
            else if (!order.Equals("asc", StringComparison.OrdinalIgnoreCase))
            {
                errors["order"] = ["'order' is 'asc' (oldest first) or 'desc' (newest first)."];
            }
        }

        var from = Time(query, "from", errors);
        var to = Time(query, "to", errors);
        if (from is { } f && to is { } t && f > t)
        {
            errors["from"] = ["'from' must not be after 'to'."];
        }

        var result = new OutboxAdminQuery
        {
            After = after,
            PageSize = pageSize,
            Descending = descending,
            MessageType = Filter(query, "messageType", errors),
            Destination = Filter(query, "destination", errors),
            PartitionKey = Filter(query, "partitionKey", errors),
            From = from,
            To = to,
        };
        return errors.Count == 0 ? result : null;
    }

    /// <summary>The <c>consumer</c> filter of the inbox listing.</summary>
    public static string? Consumer(IQueryCollection query, Dictionary<string, string[]> errors) => Filter(query, "consumer", errors);

    /// <summary>A positive id from the route.</summary>
    public static long? Id(string? text, Dictionary<string, string[]> errors)
    {
        if (long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var id) && id > 0)
        {
            return id;
        }

        errors["id"] = ["'id' must be a positive integer."];
        return null;
    }

    /// <summary>Reads a JSON body; answers a problem when it is not JSON or does not parse.</summary>
    public static async Task<(T? Body, IResult? Problem)> ReadBodyAsync<T>(HttpRequest request, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
        where T : class
    {
        if (!request.HasJsonContentType())
        {
            return (null, Results.Problem(
                statusCode: StatusCodes.Status415UnsupportedMediaType,
                title: "Unsupported media type",
                detail: "Send the request body as application/json."));
        }

        try
        {
            var body = await request.ReadFromJsonAsync(type, request.HttpContext.RequestAborted).ConfigureAwait(false);
            return body is null ? (null, Invalid("body", "The request body is empty.")) : (body, null);
        }
        catch (JsonException ex)
        {
            var field = ex.Path is { Length: > 2 } path ? path.TrimStart('$', '.') : "body";
            return (null, Invalid(field.Length == 0 ? "body" : field, $"The request body is not valid JSON for this endpoint: {ex.Message}"));
        }
    }

    /// <summary>Validates a list of ids: 1 to <see cref="OutboxAdminQuery.MaxBatchSize"/> positive integers.</summary>
    public static IReadOnlyList<long>? Ids(IReadOnlyList<long>? ids, Dictionary<string, string[]> errors)
    {
        if (ids is null || ids.Count == 0)
        {
            errors["ids"] = ["'ids' must list at least one id."];
            return null;
        }

        if (ids.Count > OutboxAdminQuery.MaxBatchSize)
        {
            errors["ids"] = [$"'ids' may list at most {OutboxAdminQuery.MaxBatchSize} ids (got {ids.Count})."];
            return null;
        }

        if (ids.Any(static id => id < 1))
        {
            errors["ids"] = ["Every id in 'ids' must be a positive integer."];
            return null;
        }

        return ids;
    }

    /// <summary>A 400 ProblemDetails naming one field.</summary>
    public static IResult Invalid(string field, string message) => Invalid(new Dictionary<string, string[]> { [field] = [message] });

    /// <summary>A 400 ProblemDetails naming the fields.</summary>
    public static IResult Invalid(Dictionary<string, string[]> errors) =>
        Results.ValidationProblem(errors, title: "The request is not valid.", detail: $"Check {string.Join(", ", errors.Keys.Select(k => $"'{k}'"))}.");

    private static string? Single(IQueryCollection query, string name, Dictionary<string, string[]> errors)
    {
        if (!query.TryGetValue(name, out var values) || values.Count == 0)
        {
            return null;
        }

        if (values.Count > 1)
        {
            errors[name] = [$"'{name}' is given more than once."];
            return null;
        }

        return string.IsNullOrEmpty(values[0]) ? null : values[0];
    }

    private static string? Filter(IQueryCollection query, string name, Dictionary<string, string[]> errors)
    {
        var value = Single(query, name, errors);
        if (value is { Length: > MaxFilterLength })
        {
            errors[name] = [$"'{name}' has at most {MaxFilterLength} characters."];
            return null;
        }

        return value;
    }

    private static DateTimeOffset? Time(IQueryCollection query, string name, Dictionary<string, string[]> errors)
    {
        if (Single(query, name, errors) is not { } text)
        {
            return null;
        }

        // ISO 8601 with an offset or 'Z' (a time without one would be read in the server's zone).
        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.None, out var value)
            && (text.EndsWith('Z') || text.EndsWith('z') || text.Length > 6 && (text[^6] is '+' or '-') && text[^3] == ':'))
        {
            return value;
        }

        errors[name] = [$"'{name}' must be an ISO 8601 date and time with an offset, for example 2026-01-31T08:00:00Z."];
        return null;
    }
}
