import { parseJobEnvelope } from './job.ts';
import type { JobEnvelope } from './job.ts';
import { lineProgressSink } from './progress.ts';
import { emptyUsage, failure, failureFromError, serializeResponse } from './response.ts';
import type { StandardResponse } from './response.ts';
import { runEnvelope } from './worker.ts';
import type { Worker } from './worker.ts';

export interface SubprocessIo {
  stdin?: NodeJS.ReadableStream;
  stdout?: NodeJS.WritableStream;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString('utf8');
}

function writeResponse(out: NodeJS.WritableStream, res: StandardResponse): Promise<void> {
  return new Promise((resolve, reject) => {
    out.write(`${serializeResponse(res)}\n`, (err) => (err ? reject(err) : resolve()));
  });
}

async function runText(worker: Worker, text: string, stdout: NodeJS.WritableStream, receivedAt: number): Promise<StandardResponse> {
  let envelope: JobEnvelope;
  try {
    envelope = parseJobEnvelope(JSON.parse(text), receivedAt);
  } catch (err) {
    if (err instanceof SyntaxError) return failure('VALIDATION_ERROR', `job is not valid JSON: ${err.message}`, false);
    return failureFromError(err, emptyUsage());
  }
  return runEnvelope(worker, envelope, { progressSink: lineProgressSink(stdout) });
}

/**
 * Run one job over the subprocess transport: read the job JSON from stdin until it closes,
 * write NDJSON progress lines then one final response line to stdout.
 * With the default (process) streams the process exits 0 once the answer is flushed,
 * so a handler that ignores its abort signal cannot keep it alive past the answer.
 * The job's `timeout_ms` counts from when this process started (Allot writes the job
 * as it spawns it, so start-up comes out of the job's time), or with `io.stdin`, from this call.
 */
export async function runSubprocess(worker: Worker, io: SubprocessIo = {}): Promise<void> {
  const stdin = io.stdin ?? process.stdin;
  const stdout = io.stdout ?? process.stdout;
  // performance.now() counts from the process's start: 0 is when the job was sent to it.
  const receivedAt = io.stdin === undefined ? 0 : performance.now();
  const text = await readAll(stdin);

  const result = await runText(worker, text, stdout, receivedAt);
  await writeResponse(stdout, result);
  if (io.stdout === undefined && io.stdin === undefined) process.exit(0);
}
