namespace Outbox.FirstHour.Tests.Infrastructure;

/// <summary>
/// A fresh local feed made by the repository's <c>./pack.sh</c>, once per test class, in a temporary folder that also
/// holds the users' projects and their own NuGet package folder (deleted at the end).
/// </summary>
public sealed class LocalFeed : IAsyncLifetime
{
    public string Root { get; } = Path.Combine(Path.GetTempPath(), $"outbox-first-hour-{Guid.NewGuid():N}");

    /// <summary>The folder with the .nupkg and .snupkg files.</summary>
    public string Packages => Path.Combine(Root, "feed");

    /// <summary>The packages' version, as MinVer computed it from the git tags.</summary>
    public string Version { get; private set; } = "";

    /// <summary>What <c>./pack.sh</c> printed.</summary>
    public string PackOutput { get; private set; } = "";

    /// <summary>The repository root: the folder above the test's output that holds Outbox.sln.</summary>
    public static string RepositoryRoot { get; } = FindRoot();

    public async ValueTask InitializeAsync()
    {
        Directory.CreateDirectory(Packages);
        PackOutput = await Shell.RunAsync(RepositoryRoot, "bash", [Path.Combine(RepositoryRoot, "pack.sh"), Packages], TimeSpan.FromMinutes(15));

        // The user's commands get a CLI home of this run (the local tool resolver caches package paths there, and this
        // run deletes its package folder), holding a copy of the machine's NuGet.Config, so the configured package
        // sources stay what they are.
        var home = Environment.GetEnvironmentVariable("DOTNET_CLI_HOME") ?? Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        var cliHome = Path.Combine(Root, "cli-home");
        var nugetFolder = Directory.CreateDirectory(Path.Combine(cliHome, ".nuget", "NuGet")).FullName;
        foreach (var name in new[] { "NuGet.Config", "nuget.config", "NuGet.config" })
        {
            var userConfig = Path.Combine(home, ".nuget", "NuGet", name);
            if (File.Exists(userConfig))
            {
                File.Copy(userConfig, Path.Combine(nugetFolder, "NuGet.Config"));
                break;
            }
        }

        Shell.CliHome = cliHome;
        var core = Directory.GetFiles(Packages, "Outbox.*.nupkg")
            .Select(Path.GetFileName)
            .Single(name => name!.StartsWith("Outbox.", StringComparison.Ordinal) && char.IsDigit(name["Outbox.".Length]))!;
        Version = core["Outbox.".Length..^".nupkg".Length];
    }

    public ValueTask DisposeAsync()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
            // A process we killed may still hold a file for a moment; the folder is in the temp directory.
        }
        catch (UnauthorizedAccessException)
        {
        }

        return ValueTask.CompletedTask;
    }

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Outbox.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"No Outbox.sln above {AppContext.BaseDirectory}.");
    }
}
