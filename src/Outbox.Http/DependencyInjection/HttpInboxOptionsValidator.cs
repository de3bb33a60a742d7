using Microsoft.Extensions.Options;

namespace Outbox.Http;

/// <summary>
/// Fails start-up when a consumer's HTTP inbox would accept anyone (no signing key, no authorization policy and no
/// explicit <see cref="HttpInboxOptions.AllowUnauthenticated"/>), or when a key is malformed. Messages name the
/// configuration keys.
/// </summary>
internal sealed class HttpInboxOptionsValidator : IValidateOptions<HttpInboxOptions>
{
    public ValidateOptionsResult Validate(string? name, HttpInboxOptions options)
    {
        var section = $"{HttpInboxOptions.SectionName}:{name}";
        var failures = new List<string>();
        var policy = !string.IsNullOrWhiteSpace(options.AuthorizationPolicy);
        if (options.AllowUnauthenticated && (options.SigningKeys.Count > 0 || policy))
        {
            failures.Add($"{section}:AllowUnauthenticated is true but {section}:{(policy ? "AuthorizationPolicy" : "SigningKeys")} is set too: choose one.");
        }
        else if (!options.AllowUnauthenticated && options.SigningKeys.Count == 0 && !policy)
        {
            failures.Add(
                $"The HTTP inbox of consumer '{name}' would accept messages from anyone: set {section}:SigningKeys:{{keyId}} (the base64 " +
                $"secret its senders sign with, in their Outbox:Http:SigningKeys:{{destination}}), or {section}:AuthorizationPolicy; " +
                $"to accept unauthenticated requests on purpose (local development only), set {section}:AllowUnauthenticated = true.");
        }

        foreach (var (keyId, secret) in options.SigningKeys)
        {
            if (!HttpSigningKeyValidation.IsValidKeyId(keyId))
            {
                failures.Add($"{section}:SigningKeys has the key id '{keyId}': {HttpSigningKeyValidation.KeyIdRule}.");
            }

            if (HttpRequestSignature.DecodeSecret(secret) is null)
            {
                failures.Add($"{section}:SigningKeys:{keyId} {HttpSigningKeyValidation.SecretRule}.");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

/// <summary>The rules for key ids and secrets, shared by both sides' validation.</summary>
internal static class HttpSigningKeyValidation
{
    public const string KeyIdRule = "a key id is 1 to 64 letters, digits, '.', '_' or '-'";

    public const string SecretRule = "must be a base64 secret of at least 32 bytes once decoded (for example `openssl rand -base64 32`)";

    public static bool IsValidKeyId(string? keyId) =>
        !string.IsNullOrEmpty(keyId) && keyId.Length <= 64 && keyId.All(static c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-');
}
