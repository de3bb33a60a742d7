using Microsoft.Extensions.Options;

namespace Outbox.Http;

/// <summary>Fails start-up when the HTTP transport cannot route anything, a URL is not an absolute http(s) URL, or a signing key is malformed.</summary>
internal sealed class HttpTransportOptionsValidator : IValidateOptions<HttpTransportOptions>
{
    public ValidateOptionsResult Validate(string? name, HttpTransportOptions options)
    {
        var failures = new List<string>();
        if (options.Destinations.Count == 0 && options.BaseAddress is null && options.UrlFor is null)
        {
            failures.Add("The HTTP transport has no URL for any destination: set Outbox:Http:Destinations:{destination}, Outbox:Http:BaseAddress or UrlFor.");
        }

        foreach (var (destination, url) in options.Destinations)
        {
            if (!IsHttpUrl(url))
            {
                failures.Add($"Outbox:Http:Destinations:{destination} must be an absolute http or https URL (got '{url}').");
            }
        }

        foreach (var (destination, key) in options.SigningKeys)
        {
            if (key is null || !HttpSigningKeyValidation.IsValidKeyId(key.KeyId))
            {
                failures.Add($"Outbox:Http:SigningKeys:{destination}:KeyId is '{key?.KeyId}': {HttpSigningKeyValidation.KeyIdRule}.");
            }

            if (HttpRequestSignature.DecodeSecret(key?.Secret) is null)
            {
                failures.Add($"Outbox:Http:SigningKeys:{destination}:Secret {HttpSigningKeyValidation.SecretRule}.");
            }
        }

        if (options.BaseAddress is { } baseAddress && !IsHttpUrl(baseAddress))
        {
            failures.Add($"Outbox:Http:BaseAddress must be an absolute http or https URL (got '{baseAddress}').");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static bool IsHttpUrl(Uri? url) =>
        url is { IsAbsoluteUri: true } && (url.Scheme == Uri.UriSchemeHttp || url.Scheme == Uri.UriSchemeHttps);
}
