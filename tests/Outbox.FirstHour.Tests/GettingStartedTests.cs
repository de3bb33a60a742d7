using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Outbox.FirstHour.Tests.Infrastructure;
using Outbox.TestInfrastructure;

namespace Outbox.FirstHour.Tests;

/// <summary>
/// docs/getting-started.md's "Your first message", followed the way a new user would: the commands of its steps as
/// written (the local feed made by <c>./pack.sh</c>, <c>dotnet new web</c>, <c>dotnet add package</c>, the dotnet-ef
/// local tool, <c>dotnet ef migrations add</c>, <c>dotnet run</c>), its Program.cs pasted as is (only the port is
/// changed to a free one), and a greeting that must come back delivered through the outbox, the HTTP transport and
/// the inbox. The user's package source is added to a nuget.config of the test's folder rather than the machine's
/// (<c>--configfile</c>, as the page says), with a package folder of its own so that no earlier build of the same
/// version is taken from the cache.
/// </summary>
public sealed class GettingStartedTests(LocalFeed feed) : IClassFixture<LocalFeed>
{
    private const string CreateTheProject = "**1. Create the project.**";
    private const string WriteProgram = "**2. Write `Program.cs`.**";
    private const string GiveAKey = "**3. Give the sender and the inbox a key.**";
    private const string CreateTheTables = "**4. Create the tables.**";
    private const string MoveToPostgreSql = "**7. Move to PostgreSQL.**";
    private const string SecretPlaceholder = "\"<the base64 secret>\"";
    private const string SameSecretPlaceholder = "\"<the same secret>\"";
    private const string SqliteDatabase = "o.UseSqlite(\"Data Source=shop.db\")";
    private const string SqliteStore = ".UseSqlite<ShopDb>()";
    private const string PostgreSqlStore = ".UsePostgreSql<ShopDb>()";

    private static readonly TimeSpan CommandTimeout = TimeSpan.FromMinutes(8);
    private static readonly TimeSpan DeliveryTimeout = TimeSpan.FromMinutes(3);

    private readonly GettingStartedPage _page = new();

    // What `openssl rand -base64 32` would print: the step's secret, for the sender and the inbox alike.
    private readonly string _secret = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));

    [Fact]
    public async Task YourFirstMessage_OnSqlite_GreetingDelivered()
    {
        var project = await CreateTheProjectAsync("sqlite");
        var port = FreePort();
        await File.WriteAllTextAsync(Path.Combine(project, "Program.cs"), Program(port), TestContext.Current.CancellationToken);

        await GiveAKeyAsync(project);
        await RunStepAsync(project, CreateTheTables);
        await RunAndGreetAsync(project, port);
    }

    [Fact]
    public async Task YourFirstMessage_MovedToPostgreSql_GreetingDelivered()
    {
        var server = await PostgresServer.AcquireAsync(TestContext.Current.CancellationToken);
        var connectionString = await server.CreateDatabaseAsync("first_hour", TestContext.Current.CancellationToken);

        var project = await CreateTheProjectAsync("postgresql");
        var port = FreePort();

        // Step 6 as the page says it: the package swapped, two calls changed, the migrations made for this provider.
        Assert.Contains($"`{SqliteDatabase}` becomes `o.UseNpgsql(", _page.Text, StringComparison.Ordinal);
        Assert.Contains($"`{SqliteStore}` becomes `{PostgreSqlStore}`", _page.Text, StringComparison.Ordinal);
        await RunStepAsync(project, MoveToPostgreSql, 0);
        var program = Program(port);
        Assert.Contains(SqliteDatabase, program, StringComparison.Ordinal);
        Assert.Contains(SqliteStore, program, StringComparison.Ordinal);
        program = program
            .Replace(SqliteDatabase, $"o.UseNpgsql(\"{connectionString}\")", StringComparison.Ordinal)
            .Replace(SqliteStore, PostgreSqlStore, StringComparison.Ordinal);
        await File.WriteAllTextAsync(Path.Combine(project, "Program.cs"), program, TestContext.Current.CancellationToken);
        await GiveAKeyAsync(project);
        await RunStepAsync(project, MoveToPostgreSql, 1);

        var csproj = await File.ReadAllTextAsync(Path.Combine(project, "Shop.csproj"), TestContext.Current.CancellationToken);
        Assert.Contains("Outbox.EntityFrameworkCore.PostgreSql", csproj, StringComparison.Ordinal);
        Assert.DoesNotContain("Outbox.EntityFrameworkCore.Sqlite", csproj, StringComparison.Ordinal);
        Assert.Contains("Npgsql", await File.ReadAllTextAsync(Directory.GetFiles(Path.Combine(project, "Migrations"), "*_Initial.cs").Single(), TestContext.Current.CancellationToken), StringComparison.Ordinal);

        await RunAndGreetAsync(project, port);
    }

    /// <summary>Step 1 in a folder of its own; returns the project's folder.</summary>
    private async Task<string> CreateTheProjectAsync(string name)
    {
        var folder = Path.Combine(feed.Root, name);
        Directory.CreateDirectory(folder);

        // The folder's nuget.config: the machine's package sources still apply (nothing is cleared); the packages go to
        // a folder of this test, with the machine's package folder as a read-only fallback for what is already there.
        var machinePackages = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        await File.WriteAllTextAsync(Path.Combine(folder, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <config>
                <add key="globalPackagesFolder" value="{Path.Combine(feed.Root, "packages", name)}" />
              </config>
              <fallbackPackageFolders>
                <add key="machine" value="{machinePackages}" />
              </fallbackPackageFolders>
            </configuration>
            """, TestContext.Current.CancellationToken);

        var commands = _page.Commands(CreateTheProject);
        Assert.Equal("<repo>/pack.sh", commands[0]);
        return await RunCommandsAsync(folder, commands.Skip(1), Path.Combine(folder, "nuget.config"));
    }

    /// <summary>Step 3: <c>dotnet user-secrets init</c>, as its text says, then its commands with the made secret.</summary>
    private async Task GiveAKeyAsync(string project)
    {
        var step = _page.Block(GiveAKey);
        Assert.Contains(SecretPlaceholder, step, StringComparison.Ordinal);
        Assert.Contains(SameSecretPlaceholder, step, StringComparison.Ordinal);
        Assert.Contains("`dotnet user-secrets init`", _page.Text, StringComparison.Ordinal);
        await RunCommandsAsync(project, ["dotnet user-secrets init"], configFile: null);
        await RunStepAsync(project, GiveAKey);
    }

    private async Task RunStepAsync(string project, string step, int block = 0) =>
        await RunCommandsAsync(project, _page.Commands(step, block), configFile: null);

    /// <summary>Runs the commands of a step; returns the folder the last <c>cd</c> left.</summary>
    private async Task<string> RunCommandsAsync(string folder, IEnumerable<string> commands, string? configFile)
    {
        foreach (var command in commands)
        {
            // As a shell would: placeholders filled in, then words split on spaces with their quotes removed.
            var words = command.Replace("<repo>/artifacts/packages", feed.Packages, StringComparison.Ordinal)
                .Replace(SecretPlaceholder, _secret, StringComparison.Ordinal)
                .Replace(SameSecretPlaceholder, _secret, StringComparison.Ordinal)
                .Split(' ', StringSplitOptions.RemoveEmptyEntries)
                .Select(w => w.Trim('"'))
                .ToList();
            switch (words[0])
            {
                case "cd":
                    folder = Path.Combine(folder, words[1]);
                    break;
                case "rm" when words[1] == "-rf":
                    var target = Path.Combine(folder, words[2]);
                    if (Directory.Exists(target))
                    {
                        Directory.Delete(target, recursive: true);
                    }

                    break;
                case "dotnet":
                    if (words is [_, "nuget", "add", "source", ..])
                    {
                        Assert.NotNull(configFile);
                        words.AddRange(["--configfile", configFile]);
                    }

                    await Shell.RunAsync(folder, "dotnet", words.Skip(1), CommandTimeout);
                    break;
                default:
                    Assert.Fail($"The test does not know how to run `{command}` from docs/getting-started.md.");
                    break;
            }
        }

        return folder;
    }

    private string Program(int port)
    {
        var program = _page.Block(WriteProgram);
        Assert.Contains("localhost:5000", program, StringComparison.Ordinal);
        return program.Replace("localhost:5000", $"localhost:{port}", StringComparison.Ordinal);
    }

    /// <summary>Step 4: <c>dotnet run</c>, POST /greet/Ada, and the greeting comes back delivered.</summary>
    private static async Task RunAndGreetAsync(string project, int port)
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        using var app = Shell.Start(project, "dotnet", ["run"], out var output);
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri($"http://localhost:{port}"), Timeout = TimeSpan.FromSeconds(30) };

            // dotnet run builds first: wait until the app answers, or has exited.
            var started = DateTime.UtcNow;
            while (true)
            {
                Assert.False(app.HasExited, $"`dotnet run` ended before the app answered:\n{output.Text}");
                Assert.True(DateTime.UtcNow - started < CommandTimeout, $"The app did not answer within {CommandTimeout.TotalMinutes:0} minutes:\n{output.Text}");
                try
                {
                    using var probe = await http.GetAsync(new Uri("/greet/00000000-0000-0000-0000-000000000000", UriKind.Relative), cancellationToken);
                    break;
                }
                catch (HttpRequestException)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(500), cancellationToken);
                }
            }

            using var greet = await http.PostAsync(new Uri("/greet/Ada", UriKind.Relative), null, cancellationToken);
            Assert.True(greet.StatusCode == HttpStatusCode.Accepted, $"POST /greet/Ada answered {(int)greet.StatusCode}:\n{output.Text}");
            var location = greet.Headers.Location;
            Assert.NotNull(location);

            var waiting = DateTime.UtcNow;
            while (true)
            {
                var json = await http.GetStringAsync(location, cancellationToken);
                using var greeting = JsonDocument.Parse(json);
                Assert.Equal("Ada", greeting.RootElement.GetProperty("name").GetString());
                if (greeting.RootElement.GetProperty("deliveredAt").ValueKind != JsonValueKind.Null)
                {
                    break;
                }

                Assert.False(app.HasExited, $"The app ended before the greeting was delivered:\n{output.Text}");
                Assert.True(DateTime.UtcNow - waiting < DeliveryTimeout, $"The greeting was not delivered within {DeliveryTimeout.TotalMinutes:0} minutes:\n{output.Text}");
                await Task.Delay(TimeSpan.FromMilliseconds(250), cancellationToken);
            }

            // The handler's log line: written in the same transaction as deliveredAt, so it is there by now.
            var logged = DateTime.UtcNow;
            while (!output.Text.Contains("Hello, Ada!", StringComparison.Ordinal))
            {
                Assert.True(DateTime.UtcNow - logged < TimeSpan.FromSeconds(60), $"The handler did not log 'Hello, Ada!':\n{output.Text}");
                await Task.Delay(TimeSpan.FromMilliseconds(250), cancellationToken);
            }

            TestContext.Current.SendDiagnosticMessage(output.Text);
        }
        finally
        {
            app.Kill(entireProcessTree: true);
            await app.WaitForExitAsync(CancellationToken.None);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
