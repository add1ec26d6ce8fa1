// A process that appends to a FileLogStorage as fast as it can until it is killed. Used by
// crash.test.ts. Prints one line per event on stdout:
//   open <firstIndex> <lastIndex>   the store was recovered
//   ow <from> <term>                an overwrite from <from> was issued (not yet durable)
//   d <from> <to> <term>            entries <from>..<to> of <term> are durable
//   snap <index>                    a snapshot at <index> is durable and the log compacted to it
//
//   node --import tsx test/storage/crash-child.ts <dir> <term>
import { FileLogStorage, NodeFileIO } from '../../src/storage/index.ts';
import { CONF, ents } from './helpers.ts';

const [dir, termArg] = process.argv.slice(2);
if (dir === undefined || termArg === undefined) throw new Error('usage: crash-child.ts <dir> <term>');
const term = Number(termArg);
const out = (line: string): void => void process.stdout.write(`${line}\n`);

const s = await FileLogStorage.open({ io: new NodeFileIO(), dir, segmentBytes: 64 * 1024, initialConfState: CONF, logger: (e, f) => out(`log ${e} ${JSON.stringify(f)}`) });
out(`open ${s.firstIndex()} ${s.lastIndex()}`);

let next = s.lastIndex() + 1;
const floor = Math.max(s.firstIndex(), s.snapshot().metadata.index + 1);
if (s.lastIndex() >= floor) {
  // Start like a follower of a new leader: overwrite the last few entries with the new term.
  next = Math.max(floor, s.lastIndex() - 2);
  out(`ow ${next} ${term}`);
}
let inflight = 0;
let lastSnap = s.snapshot().metadata.index;
let snapping = false;

function pump(): void {
  while (inflight < 8) {
    const n = 1 + ((next * 7) % 5);
    const from = next;
    const to = next + n - 1;
    next = to + 1;
    inflight++;
    s.append(ents(from, to, term)).then(
      () => {
        inflight--;
        out(`d ${from} ${to} ${term}`);
        if (!snapping && to - lastSnap > 3000) {
          snapping = true;
          const at = to - 50;
          void s
            .createSnapshot(at, CONF, new Uint8Array([at & 0xff]))
            .then(() => s.compact(at))
            .then(() => {
              lastSnap = at;
              snapping = false;
              out(`snap ${at}`);
            });
        }
        pump();
      },
      (e: unknown) => {
        process.stderr.write(`append failed: ${String(e)}\n`);
        process.exit(1);
      },
    );
  }
}
pump();
