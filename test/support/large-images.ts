/**
 * images.json texts of many rules, for the tests and benchmarks of large inputs: `count` tag rules
 * of distinct repositories spread over 100 namespaces, as a fleet's list of pinned images looks.
 */

/** The lines of `count` tag rules, `"src.example.com/teamK/appI:vI": "dst.example.com/mirror/appI"`. */
export function tagRuleLines(count: number, source = 'src.example.com', destination = 'dst.example.com'): string[] {
  const lines: string[] = [];
  for (let i = 0; i < count; i++) lines.push(`  "${source}/team${i % 100}/app${i}:v${i}": "${destination}/mirror/app${i}"`);
  return lines;
}

/** An images.json of the given rule lines. */
export function imagesText(lines: readonly string[]): string {
  return `{\n${lines.join(',\n')}\n}\n`;
}
