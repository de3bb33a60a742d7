using System.Text;
using Outbox.Migrations;

// Writes migrations/{postgresql,sqlite}/outbox.sql and a delta script per schema version from this project's EF Core migrations.
// Run from the repository root: dotnet run --project migrations/Outbox.Migrations   (see migrations/README.md)
var root = args is [var folder] ? folder : "migrations";
if (!Directory.Exists(root))
{
    Console.Error.WriteLine($"No folder '{root}': run from the repository root, or pass the migrations folder.");
    return 2;
}

foreach (var provider in OutboxScripts.Providers)
{
    foreach (var (relativePath, script) in OutboxScripts.All(provider))
    {
        var path = Path.Combine(root, relativePath);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, script, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false));
        Console.WriteLine($"wrote {path}");
    }
}

return 0;
