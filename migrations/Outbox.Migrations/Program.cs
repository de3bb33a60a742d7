using System.Text;
using Outbox.Migrations;

// Writes migrations/postgresql/outbox.sql and migrations/sqlite/outbox.sql from this project's EF Core migrations.
// Run from the repository root: dotnet run --project migrations/Outbox.Migrations   (see migrations/README.md)
var root = args is [var folder] ? folder : "migrations";
if (!Directory.Exists(root))
{
    Console.Error.WriteLine($"No folder '{root}': run from the repository root, or pass the migrations folder.");
    return 2;
}

foreach (var provider in OutboxScripts.Providers)
{
    var path = Path.Combine(root, OutboxScripts.RelativePath(provider));
    Directory.CreateDirectory(Path.GetDirectoryName(path)!);
    File.WriteAllText(path, OutboxScripts.Generate(provider), new UTF8Encoding(encoderShouldEmitUTF8Identifier: false));
    Console.WriteLine($"wrote {path}");
}

return 0;
