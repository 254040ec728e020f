/** The controller's per-key batching (workers/edge/src/controller/batch.ts), shared by explored scores and shadow results. */
import { describe, expect, it, vi } from 'vitest';
import { KeyedBatcher } from '../../workers/edge/src/controller/batch.js';

type B = { samples: number; items: number[] };
const make = (send: (key: string, b: B) => Promise<void>, after = 3, ms = 1000) =>
  new KeyedBatcher<B>(
    'test',
    () => ({ samples: 0, items: [] }),
    (a, b) => {
      a.items.push(...b.items);
      a.samples += b.samples;
    },
    send,
    { after, ms },
  );

describe('KeyedBatcher', () => {
  it('sends a key when it holds `after` samples, returns that send, and keeps keys apart', async () => {
    const sent: [string, number[]][] = [];
    const b = make(async (k, x) => void sent.push([k, x.items]));
    const deferred: Promise<unknown>[] = [];
    const defer = (p: Promise<unknown>) => void deferred.push(p);
    const add = (k: string, v: number) =>
      b.add(defer, k, (x) => {
        x.items.push(v);
        x.samples++;
      });
    expect(add('a', 1)).toBeUndefined();
    add('b', 10);
    add('a', 2);
    const full = add('a', 3);
    expect(full).toBeInstanceOf(Promise);
    await full;
    expect(sent).toEqual([['a', [1, 2, 3]]]);
    await b.flush();
    expect(sent).toEqual([
      ['a', [1, 2, 3]],
      ['b', [10]],
    ]);
  });

  it('sends after `ms` from the first unsent sample, and keeps a failed batch for the next send', async () => {
    vi.useFakeTimers();
    try {
      let fail = true;
      const sent: number[][] = [];
      const b = make(
        async (_k, x) => {
          if (fail) throw new Error('object unreachable');
          sent.push(x.items);
        },
        100,
        1000,
      );
      const deferred: Promise<unknown>[] = [];
      const add = (v: number) =>
        b.add(
          (p) => void deferred.push(p),
          'a',
          (x) => {
            x.items.push(v);
            x.samples++;
          },
        );
      add(1);
      await vi.advanceTimersByTimeAsync(1000);
      await Promise.all(deferred);
      expect(sent).toEqual([]);
      fail = false;
      add(2);
      await b.flush();
      // Nothing lost, nothing twice: the failed batch was merged into the next.
      expect(sent.flat().sort()).toEqual([1, 2]);
    } finally {
      vi.useRealTimers();
    }
  });

  it('starts a new batch when the held one does not fit (sending the old)', async () => {
    const sent: number[][] = [];
    const b = make(async (_k, x) => void sent.push(x.items), 100);
    const deferred: Promise<unknown>[] = [];
    const add = (v: number) =>
      b.add(
        (p) => void deferred.push(p),
        'a',
        (x) => {
          x.items.push(v);
          x.samples++;
        },
        (x) => x.items.every((i) => i % 2 === v % 2),
      );
    add(1);
    add(3);
    add(2);
    await Promise.all(deferred.slice(0, 1));
    await b.flush();
    expect(sent).toEqual([[1, 3], [2]]);
  });
});
