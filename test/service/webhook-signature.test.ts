/**
 * Alert webhooks are signed in the Standard Webhooks format: checked
 * against the standard's own example (standard-webhooks README, the svix
 * libraries' test vector), so a receiver using one of its libraries accepts
 * Allot's deliveries.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { standardSignature, webhookKey } from '../../src/service/webhook.ts';

test("the standard's example: whsec_ secret, id, timestamp and body give its signature", () => {
  const sig = standardSignature('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}');
  assert.equal(`v1,${sig}`, 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
});

test('a secret without whsec_ is used as its UTF-8 bytes; with it, the base64 after the prefix', () => {
  assert.deepEqual(webhookKey('plain-secret-123'), Buffer.from('plain-secret-123'));
  assert.deepEqual(webhookKey('whsec_AAEC'), Buffer.from([0, 1, 2]));
  // The timestamp is part of what is signed: the same body a second later has another signature.
  assert.notEqual(standardSignature('s3cret-value', 'msg_1', 1000, '{}'), standardSignature('s3cret-value', 'msg_1', 1001, '{}'));
});
