/**
 * The in-memory dataset every loader returns: u8 pixels, HWC per image (channels last), row-major.
 *
 * @example
 * const img = ds.test.images.subarray(i * pixelsPerImage(ds), (i + 1) * pixelsPerImage(ds));
 */
export interface Split {
  /** count × H × W × C bytes, 0-255. */
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
}

export interface Dataset {
  name: string;
  shape: { channels: number; height: number; width: number };
  classes: string[];
  train: Split;
  val: Split;
  test: Split;
  /** Human-readable description of how the splits were made (saved in the manifest). */
  split: string;
}

export type DatasetErrorCode = 'DATASET_MISSING' | 'DATASET_MALFORMED' | 'DATASET_CONFIG';

/** A dataset that cannot be read; `code` is stable for callers and tests. */
export class DatasetError extends Error {
  constructor(
    readonly code: DatasetErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'DatasetError';
  }
}

export function pixelsPerImage(ds: Pick<Dataset, 'shape'>): number {
  return ds.shape.channels * ds.shape.height * ds.shape.width;
}
