/** The CLI's text helpers (src/cli/format.ts), without a cluster. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { columns, describeFsError, drawTree, lsTime, modeString, octalMode, parseClusterFile, progressBar } from '../../src/cli/format.ts';

describe('CLI formatting', () => {
  it('mode strings as ls prints them, special bits included', () => {
    assert.equal(modeString(2, 0o755), 'drwxr-xr-x');
    assert.equal(modeString(1, 0o644), '-rw-r--r--');
    assert.equal(modeString(3, 0o777), 'lrwxrwxrwx');
    assert.equal(modeString(1, 0o4755), '-rwsr-xr-x');
    assert.equal(modeString(1, 0o2644), '-rw-r-Sr--');
    assert.equal(modeString(2, 0o1777), 'drwxrwxrwt');
    assert.equal(modeString(2, 0o1770), 'drwxrwx--T');
    assert.deepEqual([4, 5, 6, 7].map((t) => modeString(t, 0)[0]), ['p', 'b', 'c', 's']);
    assert.equal(octalMode(0o755), '0755');
  });

  it('ls times: the time of day when recent, the year otherwise', () => {
    const now = Math.floor(new Date(2024, 5, 15, 12, 0).getTime() / 1000);
    assert.equal(lsTime(Math.floor(new Date(2024, 2, 4, 9, 5).getTime() / 1000), now), 'Mar  4 09:05');
    assert.equal(lsTime(Math.floor(new Date(2023, 0, 31, 9, 5).getTime() / 1000), now), 'Jan 31  2023');
  });

  it('columns, progress bars and trees', () => {
    assert.deepEqual(columns([['a', '1', 'x'], ['bbb', '22', 'y']], new Set([1])), ['a    1 x', 'bbb 22 y']);
    assert.equal(progressBar(0.5, 10), '[#####-----]  50%');
    assert.equal(progressBar(2, 4), '[####] 100%');
    assert.equal(progressBar(Number.NaN, 4), '[----]   0%');
    assert.deepEqual(drawTree({ name: '/', type: 2, children: [{ name: 'a', type: 2, children: [{ name: 'b', type: 1 }] }, { name: 'l', type: 3, target: '/a' }] }), [
      '/',
      '├── a',
      '│   └── b',
      '└── l -> /a',
    ]);
  });

  it('error descriptions and cluster.json checks', () => {
    assert.equal(describeFsError('EEXIST'), 'File exists');
    assert.equal(describeFsError('TIMEOUT'), undefined);
    const ok = { clusterId: 'local', masters: [{ id: 1, peer: 'h:1', client: 'h:2', admin: 'h:3' }], adminToken: 't', adminTokenFile: '/t' };
    assert.deepEqual(parseClusterFile(JSON.stringify(ok), 'c.json'), ok);
    assert.throws(() => parseClusterFile('{', 'c.json'), /c\.json: not JSON/);
    assert.throws(() => parseClusterFile(JSON.stringify({ ...ok, masters: [{ id: 1 }] }), 'c.json'), /masters\[0\] must have/);
  });
});
