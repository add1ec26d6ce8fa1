// Run inside a network namespace whose only route drops everything: connects to a master that
// never answers (no reset, no SYN-ACK) and prints how the SDK gave up, as one JSON line.
import { MoosengClient, MoosengError } from '../../src/client/client.ts';

const t = Date.now();
try {
  await MoosengClient.connect({ masters: ['198.51.100.2:9441'], attemptTimeoutMs: 200, deadlineMs: 1000 });
  console.log(JSON.stringify({ ok: true, ms: Date.now() - t }));
} catch (e) {
  console.log(JSON.stringify({ ok: false, code: e instanceof MoosengError ? e.code : String(e), ms: Date.now() - t }));
}
