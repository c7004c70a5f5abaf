/**
 * Platforms as rules write them (`os/arch[/variant]`, e.g. `linux/arm64/v8`) and as index entries
 * and image configs carry them, and the one rule that decides whether an image is wanted: os and
 * architecture equal, and the variant equal when the rule names one (`linux/arm64` takes any arm64).
 * arm64 without a variant is v8, as containerd reads it.
 */

/** A platform of an index entry or an image config. */
export interface ImagePlatform {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string | undefined;
}

const PART = /^[a-z0-9][a-z0-9._-]*$/;

/** Parses `os/arch[/variant]`; returns undefined when the text is not one. */
export function parsePlatform(text: string): ImagePlatform | undefined {
  const parts = text.split('/');
  if (parts.length < 2 || parts.length > 3 || !parts.every((p) => PART.test(p))) return undefined;
  const [os, architecture, variant] = parts as [string, string, string | undefined];
  return variant === undefined ? { os, architecture } : { os, architecture, variant };
}

/** `linux/arm64/v8`. */
export function formatPlatform(p: ImagePlatform): string {
  return p.variant ? `${p.os}/${p.architecture}/${p.variant}` : `${p.os}/${p.architecture}`;
}

function variantOf(p: ImagePlatform): string | undefined {
  if (p.variant) return p.variant;
  return p.architecture === 'arm64' ? 'v8' : undefined;
}

/** True when `image` is one of the `wanted` platforms (texts as written in a rule). */
export function platformMatches(image: ImagePlatform | undefined, wanted: readonly string[]): boolean {
  if (image === undefined) return false;
  return wanted.some((text) => {
    const want = parsePlatform(text);
    if (want === undefined || want.os !== image.os || want.architecture !== image.architecture) return false;
    return want.variant === undefined || variantOf(want) === variantOf(image);
  });
}
