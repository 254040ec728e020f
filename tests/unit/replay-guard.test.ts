/** ReplayGuard: a signature is fresh once within its window, and forgotten (memory freed) after it. */
import { describe, expect, it } from 'vitest';
import { ReplayGuard } from '../../gpu-backend/src/replay-guard.js';

describe('ReplayGuard', () => {
  it('refuses a signature seen within twice the window and forgets it afterwards', () => {
    const g = new ReplayGuard(1000);
    expect(g.fresh('a', 0)).toBe(true);
    expect(g.fresh('a', 1999)).toBe(false);
    expect(g.fresh('b', 1500)).toBe(true);
    // 'a' expired at 2000 (its timestamp may be up to one window old, and the clock one window ahead).
    expect(g.fresh('a', 2000)).toBe(true);
    expect(g.fresh('b', 3499)).toBe(false);
    expect(g.fresh('b', 3500)).toBe(true);
  });
});
