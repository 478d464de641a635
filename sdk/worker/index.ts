// Allot worker SDK: standalone (node built-ins only) so workers can vendor or import it without Allot itself.
export { WorkerError } from './errors.ts';
export { parseJob } from './job.ts';
export type { Job, ProgressTarget } from './job.ts';
export type { ErrorInfo, FailureResponse, StandardResponse, SuccessResponse, TokenUsage, Usage } from './response.ts';
export { defineWorker } from './worker.ts';
export type { Handler, JobContext } from './execute.ts';
export type { Transport, Worker, WorkerOptions } from './worker.ts';
export { PROTOCOL, serveHttp } from './http.ts';
export type { HttpWorkerServer, ServeHttpOptions } from './http.ts';
export { runSubprocess } from './subprocess.ts';
export type { SubprocessIo } from './subprocess.ts';
export type { BatchContext, BatchHandler } from './batch.ts';
