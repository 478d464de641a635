/** The Worker's bindings, for suites running inside workerd (test/cf/workerd-suite.ts sets them on each request). */
let current: Record<string, unknown> | undefined;

export function setEnv(env: Record<string, unknown>): void {
  current = env;
}

export function workerdEnv(): Record<string, unknown> {
  if (!current) throw new Error('no Worker bindings: this runs only inside the test Worker');
  return current;
}
