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
export type { V2Capabilities, V2Options, V2ResourceRequirements } from './v2.ts';
export type { PayloadRef } from './v2-refs.ts';
export type { PacketProgress } from './v2-progress.ts';
export { runSubprocess } from './subprocess.ts';
export type { SubprocessIo } from './subprocess.ts';
export type { BatchContext, BatchHandler } from './batch.ts';
export { runPull } from './pull.ts';
export type { PullRunner, RunPullOptions } from './pull.ts';
