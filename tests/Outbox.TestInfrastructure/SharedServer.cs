namespace Outbox.TestInfrastructure;

/// <summary>
/// One server per process, found or started by the first caller; later and concurrent callers get the same one.
/// An unavailable server is not looked for again: every test fixture would otherwise wait for the same probes.
/// </summary>
internal sealed class SharedServer<T>(Func<CancellationToken, Task<T>> find)
    where T : class
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private T? _server;
    private string? _failure;

    public async Task<T> AcquireAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            if (_server is not null)
            {
                return _server;
            }

            if (_failure is not null)
            {
                throw new ServerUnavailableException(_failure);
            }

            try
            {
                return _server = await find(cancellationToken);
            }
            catch (ServerUnavailableException exception)
            {
                _failure = exception.Message;
                throw;
            }
        }
        finally
        {
            _gate.Release();
        }
    }
}
