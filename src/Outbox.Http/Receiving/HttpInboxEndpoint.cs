using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Policy;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Outbox.Http;

/// <summary>
/// Marks a consumer that receives over HTTP: registered by <c>UseHttp()</c> keyed by the consumer name (to look one up)
/// and once unkeyed (to list them).
/// </summary>
internal sealed record HttpInboxRegistration(string Consumer);

/// <summary>
/// Handles one POST for one consumer. First who is asking: the consumer's authorization policy when it has one
/// (<see cref="HttpInboxOptions.AuthorizationPolicy"/>: 401 or 403), then its signature when it holds signing keys
/// (<see cref="HttpInboxOptions.SigningKeys"/>: the headers and timestamp before the body is read, the HMAC once the
/// body is read and hashed; 401). A refused request writes nothing at all. Then it reads the body (up to
/// <see cref="HttpInboxOptions.MaxRequestBodySize"/>, else 413); a batch of several messages goes to
/// <see cref="HttpInboxBatch"/>, a single message becomes an <see cref="IncomingMessage"/> built from the headers and
/// runs through <see cref="IInboxReceiver"/>. Answers 200 once the inbox has an outcome (processed,
/// duplicate, dead-lettered), 422 when it was to be dead-lettered but the consumer's dead letters are full
/// (<see cref="InboxConsumerOptions.MaxDeadLetters"/>: the sender dead-letters it instead), and 503 with
/// <c>Retry-After</c> when it has none (the store is down, the host is stopping): the sender keeps the message and
/// tries again.
/// </summary>
internal sealed class HttpInboxEndpoint(
    IServiceProviderIsKeyedService keyed,
    IInboxReceiver receiver,
    IOptionsMonitor<HttpInboxOptions> options,
    IHostApplicationLifetime lifetime,
    TimeProvider timeProvider,
    IServiceProvider services,
    IOptionsMonitor<InboxConsumerOptions> consumerOptions,
    ILogger<HttpInboxEndpoint> logger)
{
    private readonly HttpInboxBatch _batches = new(receiver, consumerOptions, logger);

    /// <summary>The scheme named in <c>WWW-Authenticate</c> when a signature is refused.</summary>
    public const string SignatureScheme = "Outbox-Signature";

    public bool Serves(string consumer) => keyed.IsKeyedService(typeof(HttpInboxRegistration), consumer);

    /// <summary>
    /// At mapping time, for each consumer it serves: checks that a named authorization policy can be evaluated, and logs
    /// a warning for a consumer mapped without any authentication on purpose.
    /// </summary>
    public void CheckMapping(IEnumerable<string> consumers, string pattern)
    {
        foreach (var consumer in consumers)
        {
            var settings = options.Get(consumer); // validated: fails here already when the consumer is open by mistake
            if (settings.AllowUnauthenticated)
            {
                HttpLog.MappedUnauthenticated(logger, consumer, pattern);
            }

            if (!string.IsNullOrWhiteSpace(settings.AuthorizationPolicy))
            {
                if (services.GetService<IPolicyEvaluator>() is null || services.GetService<IAuthorizationPolicyProvider>() is null)
                {
                    throw new InvalidOperationException(
                        $"{HttpInboxOptions.SectionName}:{consumer}:AuthorizationPolicy is '{settings.AuthorizationPolicy}' but authorization is not set up: " +
                        $"call builder.Services.AddAuthorization(o => o.AddPolicy(\"{settings.AuthorizationPolicy}\", ...)) and add an authentication scheme.");
                }

                if (services.GetService<IAuthorizationPolicyProvider>() is DefaultAuthorizationPolicyProvider
                    && services.GetService<IOptions<AuthorizationOptions>>()?.Value.GetPolicy(settings.AuthorizationPolicy) is null)
                {
                    throw new InvalidOperationException(
                        $"{HttpInboxOptions.SectionName}:{consumer}:AuthorizationPolicy names the policy '{settings.AuthorizationPolicy}', which is not registered: " +
                        $"add it with builder.Services.AddAuthorization(o => o.AddPolicy(\"{settings.AuthorizationPolicy}\", ...)).");
                }
            }
        }
    }

    /// <summary>The consumers that receive over HTTP (those registered with <c>UseHttp()</c>).</summary>
    public IEnumerable<string> Consumers() => services.GetServices<HttpInboxRegistration>().Select(static r => r.Consumer);

    public async Task HandleAsync(HttpContext http, string? consumer)
    {
        if (string.IsNullOrEmpty(consumer) || !Serves(consumer))
        {
            HttpLog.UnknownConsumer(logger, consumer ?? "");
            await WriteTextAsync(http, StatusCodes.Status404NotFound, $"No consumer '{consumer}' receives over HTTP here.").ConfigureAwait(false);
            return;
        }

        var settings = options.Get(consumer);
        if (!string.IsNullOrWhiteSpace(settings.AuthorizationPolicy) && !await AuthorizeAsync(http, consumer, settings.AuthorizationPolicy).ConfigureAwait(false))
        {
            return;
        }

        HttpSignatureVerifier.Pending? signature = null;
        if (settings.SigningKeys.Count > 0)
        {
            signature = HttpSignatureVerifier.Begin(http.Request, settings, timeProvider.GetUtcNow(), out var failure);
            if (signature is null)
            {
                await UnauthorizedAsync(http, consumer, failure).ConfigureAwait(false);
                return;
            }
        }

        // Authenticated: tell the sender it may send several messages per request.
        http.Response.Headers[OutboxHttpHeaders.AcceptsBatches] = "1";
        var limit = settings.MaxRequestBodySize;
        if (http.Request.ContentLength > limit)
        {
            await TooLargeAsync(http, consumer, limit).ConfigureAwait(false);
            return;
        }

        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } sizeFeature)
        {
            sizeFeature.MaxRequestBodySize = limit;
        }

        byte[]? body;
        var bodyHash = new byte[SHA256.HashSizeInBytes];
        try
        {
            body = await ReadBodyAsync(http.Request.Body, limit, bodyHash, http.RequestAborted).ConfigureAwait(false);
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            body = null;
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            return; // the sender is gone; it tries again
        }

        if (body is null)
        {
            await TooLargeAsync(http, consumer, limit).ConfigureAwait(false);
            return;
        }

        if (signature is not null && !signature.Verify(http.Request, bodyHash))
        {
            await UnauthorizedAsync(http, consumer, $"The signature does not match the request for key id '{signature.KeyId}'.").ConfigureAwait(false);
            return;
        }

        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted, lifetime.ApplicationStopping);
        if (HttpBatchFormat.IsBatch(http.Request.ContentType))
        {
            await _batches.HandleAsync(http, consumer, settings, body, cancel.Token).ConfigureAwait(false);
            return;
        }

        var message = HttpMessageMapper.ToIncoming(http.Request, body);
        ReceiveDisposition disposition;
        try
        {
            disposition = await receiver.ReceiveAsync(consumer, message, cancel.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            HttpLog.Cancelled(logger, consumer, message.MessageId);
            await UnavailableAsync(http, settings, "The consumer is stopping.").ConfigureAwait(false);
            return;
        }
        catch (Exception ex)
        {
            HttpLog.ReceiveFailed(logger, ex, consumer, message.MessageId);
            await UnavailableAsync(http, settings, "The message could not be processed now.").ConfigureAwait(false);
            return;
        }

        if (disposition == ReceiveDisposition.Acknowledge)
        {
            http.Response.StatusCode = StatusCodes.Status200OK;
            return;
        }

        if (disposition == ReceiveDisposition.Reject)
        {
            // The consumer's dead letters are full: nothing was written here; 422 makes the sender dead-letter it on its side.
            await WriteTextAsync(
                http,
                StatusCodes.Status422UnprocessableEntity,
                $"Consumer '{consumer}' could not process message {message.MessageId} and its dead letters are full ({InboxConsumerOptions.SectionName}:{consumer}:MaxDeadLetters); the message was not kept here.").ConfigureAwait(false);
            return;
        }

        HttpLog.Requeued(logger, consumer, message.MessageId, settings.RetryAfter);
        await UnavailableAsync(http, settings, "The inbox could not record the message; try again later.").ConfigureAwait(false);
    }

    /// <summary>Evaluates the consumer's policy as the authorization middleware would; answers 401 or 403 and returns false when refused.</summary>
    private async Task<bool> AuthorizeAsync(HttpContext http, string consumer, string policyName)
    {
        var provider = http.RequestServices.GetRequiredService<IAuthorizationPolicyProvider>();
        var evaluator = http.RequestServices.GetRequiredService<IPolicyEvaluator>();
        var policy = await provider.GetPolicyAsync(policyName).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"{HttpInboxOptions.SectionName}:{consumer}:AuthorizationPolicy names the policy '{policyName}', which is not registered.");
        var authentication = await evaluator.AuthenticateAsync(policy, http).ConfigureAwait(false);
        var authorization = await evaluator.AuthorizeAsync(policy, authentication, http, resource: null).ConfigureAwait(false);
        if (authorization.Succeeded)
        {
            return true;
        }

        HttpLog.NotAuthorized(logger, consumer, policyName, authorization.Challenged ? StatusCodes.Status401Unauthorized : StatusCodes.Status403Forbidden);
        var schemes = policy.AuthenticationSchemes;
        var authenticationService = http.RequestServices.GetService<Microsoft.AspNetCore.Authentication.IAuthenticationService>();
        if (authenticationService is null)
        {
            http.Response.StatusCode = authorization.Challenged ? StatusCodes.Status401Unauthorized : StatusCodes.Status403Forbidden;
        }
        else if (schemes.Count == 0)
        {
            await (authorization.Challenged ? http.ChallengeAsync() : http.ForbidAsync()).ConfigureAwait(false);
        }
        else
        {
            foreach (var scheme in schemes)
            {
                await (authorization.Challenged ? http.ChallengeAsync(scheme) : http.ForbidAsync(scheme)).ConfigureAwait(false);
            }
        }

        return false;
    }

    private async Task UnauthorizedAsync(HttpContext http, string consumer, string reason)
    {
        HttpLog.SignatureRefused(logger, consumer, reason);
        http.Response.Headers.WWWAuthenticate = $"{SignatureScheme} headers=\"{OutboxHttpHeaders.SignatureKeyId} {OutboxHttpHeaders.SignatureTimestamp} {OutboxHttpHeaders.Signature}\"";
        await WriteTextAsync(http, StatusCodes.Status401Unauthorized, reason).ConfigureAwait(false);
    }

    private async Task TooLargeAsync(HttpContext http, string consumer, long limit)
    {
        HttpLog.TooLarge(logger, consumer, limit);
        await WriteTextAsync(http, StatusCodes.Status413PayloadTooLarge, $"The message is larger than this endpoint's limit of {limit} bytes.").ConfigureAwait(false);
    }

    internal static Task UnavailableAsync(HttpContext http, HttpInboxOptions settings, string text)
    {
        if (http.RequestAborted.IsCancellationRequested || http.Response.HasStarted)
        {
            return Task.CompletedTask;
        }

        http.Response.Headers.RetryAfter = Math.Ceiling(settings.RetryAfter.TotalSeconds).ToString(CultureInfo.InvariantCulture);
        return WriteTextAsync(http, StatusCodes.Status503ServiceUnavailable, text);
    }

    internal static async Task WriteTextAsync(HttpContext http, int status, string text)
    {
        if (http.Response.HasStarted)
        {
            return;
        }

        http.Response.StatusCode = status;
        http.Response.ContentType = "text/plain; charset=utf-8";
        try
        {
            await http.Response.WriteAsync(text, http.RequestAborted).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            // The sender is gone.
        }
    }

    /// <summary>
    /// Reads the whole body, hashing it (SHA-256 into <paramref name="sha256"/>) as it comes, or returns
    /// <see langword="null"/> as soon as it exceeds <paramref name="limit"/> bytes.
    /// </summary>
    private static async Task<byte[]?> ReadBodyAsync(Stream body, long limit, byte[] sha256, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(16 * 1024);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        try
        {
            var length = 0;
            while (true)
            {
                if (length == buffer.Length)
                {
                    if (length > limit)
                    {
                        return null;
                    }

                    var larger = ArrayPool<byte>.Shared.Rent((int)Math.Min((long)buffer.Length * 2, Math.Max(limit + 1, buffer.Length + 1L)));
                    buffer.AsSpan(0, length).CopyTo(larger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = larger;
                }

                var read = await body.ReadAsync(buffer.AsMemory(length), cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    hash.GetCurrentHash(sha256);
                    return buffer.AsSpan(0, length).ToArray();
                }

                hash.AppendData(buffer, length, read);

                length += read;
                if (length > limit)
                {
                    return null;
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
