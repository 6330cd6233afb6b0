import { z } from 'zod';

/**
 * The id alphabet, defined once for every id showroom accepts from outside: event ids, customer,
 * vehicle and session ids, model names and run ids, in event bodies and in URL paths.
 *
 * 1 to 128 characters from `A–Z a–z 0–9` and `. _ - : @ + = ~ |` — enough for UUIDs, numeric ids,
 * e-mail-like ids, prefixed ids (`c-0042`, `web:7f3a`) and base64url, and nothing a store, a
 * URL or a log treats specially: no `/ \ ? #` (Cosmos DB refuses them in document ids), no
 * `%`, no whitespace, no control characters, no quotes or angle brackets, and only ASCII (so an
 * id can neither change on the way — a lone UTF-16 surrogate becomes U+FFFD in Parquet — nor
 * have two spellings).
 */
export const ID_PATTERN = /^[A-Za-z0-9._:@+=~|-]{1,128}$/;

/** The alphabet as users read it (error messages, README, OpenAPI). */
export const ID_ALPHABET_TEXT = '1–128 characters from A–Z a–z 0–9 . _ - : @ + = ~ |';

/** True when `value` is a string showroom accepts as an id. */
export function isValidId(value: unknown): value is string {
  return typeof value === 'string' && ID_PATTERN.test(value);
}

/** The zod schema of an id field, with messages that name `what` and the alphabet. */
export function idSchema(what: string) {
  return z
    .string({ message: `${what} must be a string` })
    .min(1, `${what} must not be empty`)
    .max(128, `${what} must be at most 128 characters`)
    .regex(ID_PATTERN, `${what} must be ${ID_ALPHABET_TEXT}`);
}
