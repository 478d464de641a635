// Allot client SDK: the client API over the global fetch, no dependencies and nothing of the server.
export { AllotClient } from './client.ts';
export type { AllotClientOptions, CallOptions, EventsOptions, SubmitOptions } from './client.ts';
export { AllotError, AllotNetworkError, AllotTimeoutError, ERROR_CODES, isErrorCode } from './errors.ts';
export type { ErrorCode } from './errors.ts';
export { createSseParser } from './sse.ts';
export type { SseMessage, SseParser } from './sse.ts';
export type {
  Accepted, BatchSubmitItem, BatchSubmitResult, CostEstimate, CurrentUsage, Estimate, EstimateRequest, ExecuteRequest, Execution, ExecutionEvent,
  ExecutionList, ListOptions, PriorityView, QueuePosition, RequestCost, RequestErrorView, RequestStatus, ResourceAvailability, ResourceEstimate,
  StageView, SubmitRequest, TerminalStatus, TokenUsage, Urgency, Usage,
} from './types.ts';
