import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, test } from 'node:test';
import { CopyDataReader } from '../src/source/pg-wal/copy-data-reader.js';

/*
 * The replication stream's CopyData messages read straight off the socket,
 * without a server: however the reads cut the stream, every payload arrives
 * whole and in order, and the first message that is not CopyData goes back
 * to the reader that was there before (pg's parser), with everything after it.
 */

function message(type: string, payload: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head[0] = type.charCodeAt(0);
  head.writeUInt32BE(4 + payload.length, 1);
  return Buffer.concat([head, payload]);
}

const payloads = [Buffer.from('w first'), Buffer.alloc(0), Buffer.from('k'), Buffer.alloc(70_000, 7), Buffer.from('w last')];
const copyBoth = message('W', Buffer.from([0, 0, 0]));
const afterCopy = Buffer.concat([message('c', Buffer.alloc(0)), message('C', Buffer.from('COPY 0\0')), message('Z', Buffer.from('I'))]);
const stream = Buffer.concat([copyBoth, ...payloads.map((p) => message('d', p)), afterCopy]);

/** Feeds `stream` cut at `cuts`; returns the payloads read and what the earlier reader got. */
function read(cuts: readonly number[]): { payloads: Buffer[]; handedBack: Buffer } {
  const socket = new EventEmitter();
  const handedBack: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => handedBack.push(Buffer.from(chunk)));
  const got: Buffer[] = [];
  new CopyDataReader(socket, (bytes, start, end) => got.push(Buffer.from(bytes.subarray(start, end))));
  let from = 0;
  for (const cut of [...cuts, stream.length]) {
    socket.emit('data', stream.subarray(from, cut));
    from = cut;
  }
  return { payloads: got, handedBack: Buffer.concat(handedBack) };
}

describe('CopyData read off the socket', () => {
  const start = copyBoth.length;
  const cases: [string, number[]][] = [
    ['one read', []],
    ['a read per byte of the first messages', Array.from({ length: 40 }, (_, i) => i + 1)],
    ['a header split after its type byte and inside its length', [start + 1, start + 3]],
    ['a large message over several reads', [start + 30, start + 40_000, start + 65_000]],
    ['a cut right before the first message pg reads again', [stream.length - afterCopy.length]],
    ['a cut inside the first message pg reads again', [stream.length - afterCopy.length + 2]],
  ];
  for (const [name, cuts] of cases) {
    test(name, () => {
      const { payloads: got, handedBack } = read(cuts);
      assert.deepEqual(got, payloads);
      assert.deepEqual(handedBack, afterCopy);
    });
  }

  test('an error instead of CopyBothResponse goes back to pg at once', () => {
    const socket = new EventEmitter();
    const handedBack: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => handedBack.push(chunk));
    let payloadsRead = 0;
    new CopyDataReader(socket, () => payloadsRead++);
    const error = Buffer.concat([message('E', Buffer.from('SERROR\0C42704\0\0')), message('Z', Buffer.from('I'))]);
    socket.emit('data', error);
    assert.equal(payloadsRead, 0);
    assert.deepEqual(Buffer.concat(handedBack), error);
    assert.equal(socket.listenerCount('data'), 1);
  });
});
