/**
 * Request body → u8 HWC pixels of exactly the model's input shape, per content type:
 * `image/png` (any size, grey or colour: converted and resized), `application/octet-stream` (raw
 * u8, exactly C×H×W bytes), `application/json` `{"pixels": [0-255 …]}` (exactly C×H×W values).
 */
import { z } from 'zod';
import type { ImageShape } from '../../../../core/normalise.js';
import { ImageError, pngToModelInput } from '../../../../core/image.js';
import { mediaType } from '../../../../core/media-type.js';
import { ProblemError } from '../errors.js';
import { readBody } from './body.js';

export const ACCEPTED_TYPES = ['image/png', 'application/octet-stream', 'application/json'] as const;

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

export function pixelsSchema(n: number) {
  return z.object({ pixels: z.array(z.number().int().min(0).max(255)).length(n) }).strict();
}

/** Largest accepted body: a PNG at the reader's pixel cap compresses well below this; raw input is ~1 KB. */
export const MAX_BODY_BYTES = 8 * 1024 * 1024;

export async function readPixels(req: Request, shape: ImageShape): Promise<Uint8Array> {
  const type = mediaType(req.headers.get('content-type'));
  const n = shape.channels * shape.height * shape.width;
  const dims = `${shape.channels}×${shape.height}×${shape.width}`;
  if (!(ACCEPTED_TYPES as readonly string[]).includes(type)) {
    throw new ProblemError(415, 'UNSUPPORTED_MEDIA_TYPE', `content-type "${type || '(none)'}" is not accepted; use ${ACCEPTED_TYPES.join(', ')}`);
  }
  const bytes = await readBody(req, MAX_BODY_BYTES);
  if (bytes.length === 0) throw new ProblemError(400, 'EMPTY_BODY', `the body is empty; send a ${type} image`);
  if (type === 'application/octet-stream') {
    if (bytes.length !== n) throw new ProblemError(400, 'BAD_INPUT_SIZE', `raw body has ${bytes.length} bytes; expected exactly ${n} (u8 pixels, ${dims}, channels last)`);
    return bytes;
  }
  if (type === 'application/json') {
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder().decode(bytes));
    } catch {
      throw new ProblemError(400, 'BAD_JSON', 'the body is not valid JSON; expected {"pixels": [...]}');
    }
    const p = pixelsSchema(n).safeParse(json);
    if (!p.success) {
      const i = p.error.issues[0]!;
      throw new ProblemError(400, 'BAD_PIXELS', `${i.path.join('.') || 'body'}: ${i.message}; expected {"pixels": [${n} integers 0-255]} (${dims}, channels last)`);
    }
    return Uint8Array.from(p.data.pixels);
  }
  if (!PNG_SIGNATURE.every((b, i) => bytes[i] === b)) throw new ProblemError(400, 'BAD_PNG', 'the body does not start with the PNG signature');
  try {
    return pngToModelInput(bytes, shape);
  } catch (e) {
    if (e instanceof ImageError) throw new ProblemError(400, 'BAD_PNG', e.message, { cause: e });
    throw e;
  }
}
