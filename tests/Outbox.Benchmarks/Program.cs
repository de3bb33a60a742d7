using Outbox.Benchmarks;

using var cancellation = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancellation.Cancel();
};

return await BenchmarkProgram.RunAsync(args, Console.Out, Console.Error, cancellation.Token);
