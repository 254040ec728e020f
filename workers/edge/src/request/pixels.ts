/**
 * Classify's request body → u8 HWC pixels of exactly the model's input shape, per content type:
 * `image/png` (any size, grey or colour: converted and resized), `application/octet-stream` (raw
 * u8, exactly C×H×W bytes), `application/json` `{"pixels": [0-255 …]}` (exactly C×H×W values).
 * `pixelsBody` describes these (the route's OpenAPI request body); `readPixels` reads a request by
 * that description: its content types are the accepted ones, its JSON schema validates JSON bodies.
 *
 * @example
 * const body = pixelsBody(imageShape(manifest));
 * const pixels = await readPixels(c.req.raw, imageShape(manifest), body);
 */
import { z } from '@hono/zod-openapi';
import { ImageError, pngToModelInput } from '../../../../core/image.js';
import { mediaType } from '../../../../core/media-type.js';
import type { ImageShape } from '../../../../core/normalise.js';
import { ProblemError } from '../errors.js';
import { readBody } from './body.js';

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Largest accepted body: a PNG at the reader's pixel cap compresses well below this; raw input is ~1 KB. */
export const MAX_BODY_BYTES = 8 * 1024 * 1024;

export function pixelsSchema(n: number) {
  return z
    .object({
      pixels: z.array(z.number().int().min(0).max(255)).length(n).describe(`${n} integers 0-255, channels last`),
    })
    .strict();
}

/** The classify request body as the route describes it (and readPixels accepts it). */
export function pixelsBody(shape: ImageShape) {
  const n = shape.channels * shape.height * shape.width;
  const dims = `${shape.channels}×${shape.height}×${shape.width}`;
  return {
    required: true,
    description: `One image, at most ${MAX_BODY_BYTES} bytes (413 beyond, declared or streamed).`,
    content: {
      'image/png': {
        schema: {
          type: 'string' as const,
          format: 'binary',
          description:
            "a PNG of any size, grey or colour (every colour type and bit depth, interlaced too): converted to the model's channels and resized",
        },
      },
      'application/octet-stream': {
        schema: {
          type: 'string' as const,
          format: 'binary',
          minLength: n,
          maxLength: n,
          description: `exactly ${n} bytes: u8 pixels ${dims}, channels last`,
        },
      },
      'application/json': { schema: pixelsSchema(n) },
    },
  };
}
export type PixelsBody = ReturnType<typeof pixelsBody>;

export async function readPixels(req: Request, shape: ImageShape, body: PixelsBody): Promise<Uint8Array> {
  const accepted = Object.keys(body.content);
  const type = mediaType(req.headers.get('content-type'));
  const n = shape.channels * shape.height * shape.width;
  const dims = `${shape.channels}×${shape.height}×${shape.width}`;
  if (!accepted.includes(type)) {
    throw new ProblemError(
      415,
      'UNSUPPORTED_MEDIA_TYPE',
      `content-type "${type || '(none)'}" is not accepted; use ${accepted.join(', ')}`,
    );
  }
  const bytes = await readBody(req, MAX_BODY_BYTES);
  if (bytes.length === 0) throw new ProblemError(400, 'EMPTY_BODY', `the body is empty; send a ${type} image`);
  if (type === 'application/octet-stream') {
    if (bytes.length !== n)
      throw new ProblemError(
        400,
        'BAD_INPUT_SIZE',
        `raw body has ${bytes.length} bytes; expected exactly ${n} (u8 pixels, ${dims}, channels last)`,
      );
    return bytes;
  }
  if (type === 'application/json') {
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder().decode(bytes));
    } catch {
      throw new ProblemError(400, 'BAD_JSON', 'the body is not valid JSON; expected {"pixels": [...]}');
    }
    const p = body.content['application/json'].schema.safeParse(json);
    if (!p.success) {
      const i = p.error.issues[0]!;
      throw new ProblemError(
        400,
        'BAD_PIXELS',
        `${i.path.join('.') || 'body'}: ${i.message}; expected {"pixels": [${n} integers 0-255]} (${dims}, channels last)`,
      );
    }
    return Uint8Array.from(p.data.pixels);
  }
  if (!PNG_SIGNATURE.every((b, i) => bytes[i] === b))
    throw new ProblemError(400, 'BAD_PNG', 'the body does not start with the PNG signature');
  try {
    return pngToModelInput(bytes, shape);
  } catch (e) {
    if (e instanceof ImageError) throw new ProblemError(400, 'BAD_PNG', e.message, { cause: e });
    throw e;
  }
}
