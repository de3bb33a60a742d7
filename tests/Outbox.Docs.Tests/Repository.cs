namespace Outbox.Docs.Tests;

internal static class Repository
{
    /// <summary>The repository root: the folder above the test's output that holds Outbox.sln.</summary>
    public static string Root { get; } = FindRoot();

    /// <summary>The build configuration of this test run (…/bin/{Configuration}/net10.0/).</summary>
    public static string Configuration { get; } = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name;

    public static string PathOf(params string[] parts) => Path.Combine([Root, .. parts]);

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
