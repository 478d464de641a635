import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AllotError, ERROR_CATALOGUE, isErrorCode, type ErrorCode } from '../../src/core/errors.ts';

/** The stable contract: code → HTTP status and retryability. */
const EXPECTED: Readonly<Record<ErrorCode, { status: number; retryable: boolean }>> = {
  VALIDATION_ERROR: { status: 400, retryable: false },
  UNAUTHORIZED: { status: 401, retryable: false },
  BUDGET_EXCEEDED: { status: 402, retryable: false },
  FORBIDDEN: { status: 403, retryable: false },
  NOT_FOUND: { status: 404, retryable: false },
  CONFLICT: { status: 409, retryable: false },
  REQUEST_TIMEOUT: { status: 408, retryable: true },
  PAYLOAD_TOO_LARGE: { status: 413, retryable: false },
  IDEMPOTENCY_MISMATCH: { status: 422, retryable: false },
  INSUFFICIENT_RESOURCES: { status: 429, retryable: true },
  INTERNAL_ERROR: { status: 500, retryable: true },
  WORKER_ERROR: { status: 502, retryable: true },
  WORKER_UNAVAILABLE: { status: 502, retryable: true },
  QUEUE_BACKUP: { status: 503, retryable: true },
  CANCELLED: { status: 409, retryable: false },
  REFERENCE_EXPIRED: { status: 410, retryable: false },
  LEASE_LOST: { status: 409, retryable: false },
  CONFIG_ERROR: { status: 500, retryable: false },
};
const CODES = Object.keys(EXPECTED) as ErrorCode[];

describe('error catalogue', () => {
  it('has exactly the expected codes', () => {
    assert.deepEqual(Object.keys(ERROR_CATALOGUE).toSorted(), [...CODES].toSorted());
  });

  for (const code of CODES) {
    it(`${code} has an HTTP error status, a retryable flag and a message`, () => {
      const entry = ERROR_CATALOGUE[code];
      assert.equal(typeof entry.status, 'number');
      assert.ok(Number.isInteger(entry.status) && entry.status >= 400 && entry.status <= 599, `status ${entry.status}`);
      assert.equal(typeof entry.retryable, 'boolean');
      assert.equal(typeof entry.message, 'string');
      assert.ok(entry.message.trim().length > 0);
      assert.equal(entry.status, EXPECTED[code].status);
      assert.equal(entry.retryable, EXPECTED[code].retryable);
    });
  }

  it('429 and 503 (which carry Retry-After) are retryable; 4xx client errors other than 408/429 are not', () => {
    for (const code of CODES) {
      const { status, retryable } = ERROR_CATALOGUE[code];
      if (status === 429 || status === 503 || status === 408) assert.equal(retryable, true, code);
      if (status >= 400 && status < 500 && status !== 408 && status !== 429) assert.equal(retryable, false, code);
    }
  });

  it('messages are distinct so clients and logs can tell codes apart', () => {
    const msgs = CODES.map((c) => ERROR_CATALOGUE[c].message);
    assert.equal(new Set(msgs).size, msgs.length);
  });

  it('is frozen: codes cannot be added or removed at run time', () => {
    assert.ok(Object.isFrozen(ERROR_CATALOGUE));
    assert.throws(() => {
      (ERROR_CATALOGUE as Record<string, unknown>)['NEW_CODE'] = { status: 418, retryable: false, message: 'x' };
    }, TypeError);
    assert.equal(isErrorCode('NEW_CODE'), false);
  });
});

describe('isErrorCode', () => {
  it('accepts every catalogue code', () => {
    for (const c of CODES) assert.equal(isErrorCode(c), true, c);
  });
  it('rejects other strings, including inherited Object properties and other casing', () => {
    for (const s of ['', 'conflict', 'Conflict', 'NOT FOUND', 'toString', 'constructor', '__proto__', 'hasOwnProperty', 'valueOf']) {
      assert.equal(isErrorCode(s), false, s);
    }
  });
});

describe('AllotError', () => {
  it('takes status, retryable and default message from the catalogue for every code', () => {
    for (const code of CODES) {
      const e = new AllotError(code);
      assert.ok(e instanceof Error);
      assert.ok(e instanceof AllotError);
      assert.equal(e.name, 'AllotError');
      assert.equal(e.code, code);
      assert.equal(e.status, EXPECTED[code].status);
      assert.equal(e.retryable, EXPECTED[code].retryable);
      assert.equal(e.message, ERROR_CATALOGUE[code].message);
      assert.equal(e.details, undefined);
      assert.equal(e.retryAfterS, undefined);
      assert.equal(e.cause, undefined);
      assert.equal('cause' in e, false);
      assert.equal(typeof e.stack, 'string');
    }
  });

  it('carries a custom message, details and retryAfterS', () => {
    const e = new AllotError('INSUFFICIENT_RESOURCES', 'No tokens for gpt-x', {
      details: { resource: 'gpt-x', waitMs: 1500 },
      retryAfterS: 2,
    });
    assert.equal(e.code, 'INSUFFICIENT_RESOURCES');
    assert.equal(e.status, 429);
    assert.equal(e.retryable, true);
    assert.equal(e.message, 'No tokens for gpt-x');
    assert.deepEqual(e.details, { resource: 'gpt-x', waitMs: 1500 });
    assert.equal(e.retryAfterS, 2);
  });

  it('keeps retryAfterS of 0 (not dropped as falsy)', () => {
    const e = new AllotError('QUEUE_BACKUP', undefined, { retryAfterS: 0 });
    assert.equal(e.retryAfterS, 0);
    assert.equal(e.message, ERROR_CATALOGUE.QUEUE_BACKUP.message);
  });

  it('keeps an explicit empty message rather than substituting the default', () => {
    assert.equal(new AllotError('NOT_FOUND', '').message, '');
  });

  it('chains a cause when given, including falsy causes', () => {
    const root = new Error('socket hang up');
    const e = new AllotError('WORKER_UNAVAILABLE', undefined, { cause: root });
    assert.equal(e.cause, root);
    const z = new AllotError('INTERNAL_ERROR', 'x', { cause: 0 });
    assert.equal(z.cause, 0);
    assert.equal('cause' in z, true);
  });

  it('can be caught by code', () => {
    try {
      throw new AllotError('BUDGET_EXCEEDED', undefined, { details: { remainingNano: 5 } });
    } catch (err) {
      assert.ok(err instanceof AllotError);
      assert.equal(err.code, 'BUDGET_EXCEEDED');
      assert.equal(err.status, 402);
      assert.deepEqual(err.details, { remainingNano: 5 });
    }
  });
});
