/**
 * Sizes and durations in manifests. Units are exact: `KB`/`MB`/`GB` are decimal (10^3, 10^6,
 * 10^9 bytes, as in SI and Kubernetes' `k`/`M`/`G`), `KiB`/`MiB`/`GiB` binary (2^10, 2^20,
 * 2^30). A bare number is bytes (sizes) or milliseconds (durations) — the form the normalised
 * manifest uses — so a forgotten unit (`memory: 256`) lands far below the minimum and is
 * refused instead of meaning something surprising.
 */
import { parseDuration } from '../../config/duration.js';

const SIZE_UNITS: Readonly<Record<string, number>> = {
  B: 1,
  KB: 1_000,
  MB: 1_000_000,
  GB: 1_000_000_000,
  KiB: 1024,
  MiB: 1024 ** 2,
  GiB: 1024 ** 3,
};

export const SIZE_HINT = 'expected a size such as 256MB or 1GiB (units B, KB, MB, GB, KiB, MiB, GiB) or a number of bytes';
export const DURATION_HINT = 'expected a duration such as 500ms, 30s, 15m or 2h, or a number of milliseconds';

/** The string forms, for the published JSON Schema (numbers are bytes and milliseconds). */
export const SIZE_PATTERN = '^(\\d{1,12}) ?(B|KB|MB|GB|KiB|MiB|GiB)$';
export const DURATION_PATTERN = '^\\d{1,9}(ms|s|m|h|d)$';

const SIZE_RE = new RegExp(SIZE_PATTERN);
const DURATION_RE = new RegExp(DURATION_PATTERN);

/** Bytes of `256MB`, `1GiB`, `1048576`; undefined when malformed. */
export function parseSize(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  const m = SIZE_RE.exec(value);
  if (!m) return undefined;
  const bytes = Number(m[1]) * (SIZE_UNITS[m[2] as string] as number);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** Milliseconds of `30s`, `15m`, `30000`; undefined when malformed. */
export function parseManifestDuration(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  return DURATION_RE.test(value) ? parseDuration(value) : undefined;
}
