import { SELF } from 'cloudflare:test';
import { encode } from 'fast-png';
import { describe, expect, it } from 'vitest';

const classify = (png: Uint8Array, headers: Record<string, string> = {}) =>
  SELF.fetch('https://edge.test/v1/classify', {
    method: 'POST',
    body: png,
    headers: { 'content-type': 'image/png', ...headers },
  });

describe('PNG input', () => {
  it('decodes grey, RGB and RGBA PNGs of any size and gives the same answer as the raw pixels', async () => {
    // A 28×28 grey image (a bright square), then the same picture as 56×56 RGB and RGBA.
    const grey = new Uint8Array(28 * 28);
    for (let y = 8; y < 20; y++) for (let x = 8; x < 20; x++) grey[y * 28 + x] = 220;
    const big = (channels: number) => {
      const d = new Uint8Array(56 * 56 * channels);
      for (let y = 0; y < 56; y++)
        for (let x = 0; x < 56; x++) {
          const v = grey[Math.floor(y / 2) * 28 + Math.floor(x / 2)]!;
          for (let c = 0; c < channels; c++) d[(y * 56 + x) * channels + c] = c === 3 ? 255 : v;
        }
      return d;
    };
    const raw = await (
      await SELF.fetch('https://edge.test/v1/classify', {
        method: 'POST',
        body: grey,
        headers: { 'content-type': 'application/octet-stream' },
      })
    ).json<{ classIndex: number; confidence: number }>();
    for (const png of [
      encode({ width: 28, height: 28, data: grey, channels: 1 }),
      encode({ width: 56, height: 56, data: big(3), channels: 3 }),
      encode({ width: 56, height: 56, data: big(4), channels: 4 }),
    ]) {
      const res = await classify(png);
      expect(res.status).toBe(200);
      const j = await res.json<{ classIndex: number; confidence: number }>();
      expect(j.classIndex).toBe(raw.classIndex);
      expect(j.confidence).toBeCloseTo(raw.confidence, 4);
    }
  });

  it('rejects a corrupt PNG with 400', async () => {
    const png = encode({ width: 28, height: 28, data: new Uint8Array(784), channels: 1 });
    const res = await classify(png.subarray(0, 40));
    expect(res.status).toBe(400);
    expect((await res.json<{ code: string }>()).code).toBe('BAD_PNG');
  });
});
