using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Outbox.Http;

/// <summary>
/// The part of the inbox endpoint that takes a request carrying several messages (<see cref="HttpBatchFormat"/>), once
/// it is authorized, signed and read. The messages go to <see cref="IInboxReceiver.ReceiveBatchAsync"/> in chunks of
/// the consumer's <see cref="InboxConsumerOptions.MaxBatchSize"/> (one transaction per chunk when the consumer batches,
/// falling back one by one when a chunk fails), and the answer is 200 with an outcome per message: <c>accepted</c>
/// (processed, a duplicate skipped, or dead-lettered here with its reason), <c>rejected</c> (the consumer's dead letters
/// are full: the sender dead-letters it) or <c>retry</c> (no outcome could be recorded now). Once a chunk has a message
/// to retry (the store is most likely down), the later chunks are not processed and are answered <c>retry</c> too; when
/// every message is to be retried the answer is 503 with <c>Retry-After</c>, as for a single message, so that it counts
/// against the endpoint at the sender. A body that is not a well-formed batch is answered 400 and nothing is written.
/// </summary>
internal sealed class HttpInboxBatch(IInboxReceiver receiver, IOptionsMonitor<InboxConsumerOptions> consumers, ILogger logger)
{
    private const string RetryReason = "The inbox could not record the message; try again later.";

    public async Task HandleAsync(HttpContext http, string consumer, HttpInboxOptions settings, byte[] body, CancellationToken cancellationToken)
    {
        var batchId = http.Request.Headers.TryGetValue(OutboxHttpHeaders.BatchId, out var id) && id.Count > 0 ? id[0] : null;
        var messages = HttpBatchFormat.ReadRequest(body, out var error);
        if (messages is null)
        {
            HttpLog.BatchMalformed(logger, consumer, batchId, error);
            await HttpInboxEndpoint.WriteTextAsync(http, StatusCodes.Status400BadRequest, error).ConfigureAwait(false);
            return;
        }

        var results = new HttpBatchResult?[messages.Count];
        var chunk = Math.Max(1, consumers.Get(consumer).MaxBatchSize);
        try
        {
            var requeued = false;
            for (var start = 0; start < messages.Count && !requeued; start += chunk)
            {
                var part = messages.GetRange(start, Math.Min(chunk, messages.Count - start));
                var dispositions = await receiver.ReceiveBatchAsync(consumer, part, cancellationToken).ConfigureAwait(false);
                for (var j = 0; j < part.Count && j < dispositions.Count; j++)
                {
                    requeued |= dispositions[j] == ReceiveDisposition.Requeue;
                    results[start + j] = dispositions[j] switch
                    {
                        ReceiveDisposition.Acknowledge => new HttpBatchResult(part[j].MessageId, HttpBatchOutcome.Accepted, null),
                        ReceiveDisposition.Reject => new HttpBatchResult(
                            part[j].MessageId,
                            HttpBatchOutcome.Rejected,
                            $"Consumer '{consumer}' could not process message {part[j].MessageId} and its dead letters are full ({InboxConsumerOptions.SectionName}:{consumer}:MaxDeadLetters); the message was not kept here."),
                        _ => new HttpBatchResult(part[j].MessageId, HttpBatchOutcome.Retry, RetryReason),
                    };
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            HttpLog.Cancelled(logger, consumer, batchId);
        }
        catch (Exception ex)
        {
            HttpLog.BatchFailed(logger, ex, consumer, batchId);
        }

        if (http.RequestAborted.IsCancellationRequested)
        {
            return; // the sender is gone; it sends them all again and the inbox skips what it holds
        }

        int accepted = 0, rejected = 0, retry = 0;
        var answer = new HttpBatchResult[messages.Count];
        for (var i = 0; i < answer.Length; i++)
        {
            answer[i] = results[i] ?? new HttpBatchResult(messages[i].MessageId, HttpBatchOutcome.Retry, RetryReason);
            _ = answer[i].Outcome switch
            {
                HttpBatchOutcome.Accepted => accepted++,
                HttpBatchOutcome.Rejected => rejected++,
                _ => retry++,
            };
        }

        HttpLog.BatchReceived(logger, consumer, batchId, answer.Length, accepted, rejected, retry);
        if (retry == answer.Length)
        {
            HttpLog.Requeued(logger, consumer, batchId, settings.RetryAfter);
            await HttpInboxEndpoint.UnavailableAsync(http, settings, RetryReason).ConfigureAwait(false);
            return;
        }

        if (http.Response.HasStarted)
        {
            return;
        }

        var bytes = HttpBatchFormat.WriteResults(answer);
        http.Response.StatusCode = StatusCodes.Status200OK;
        http.Response.ContentType = HttpBatchFormat.ResultContentType;
        http.Response.ContentLength = bytes.Length;
        try
        {
            await http.Response.Body.WriteAsync(bytes, http.RequestAborted).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            // The sender is gone.
        }
    }
}
