/**
 * Mongoose OS method patterns (`mg_match_prefix_n`, reference mos-protocols.md §6.1): case-insensitive,
 * `*` matches within one `/`-free segment, `**` anything, `?` one character, `,` or `|` alternatives.
 */

/** Whether `name` matches the glob `pattern` as Mongoose OS ACLs match methods and users. */
export function globMatch(pattern: string, name: string): boolean {
  return pattern.split(/[,|]/).some((alt) => matchOne(alt.toLowerCase(), 0, name.toLowerCase(), 0));
}

function matchOne(p: string, pi: number, s: string, si: number): boolean {
  while (pi < p.length) {
    const c = p[pi]!;
    if (c === "*") {
      const deep = p[pi + 1] === "*";
      const rest = pi + (deep ? 2 : 1);
      for (let k = si; k <= s.length; k++) {
        if (matchOne(p, rest, s, k)) return true;
        if (k < s.length && !deep && s[k] === "/") return false;
      }
      return false;
    }
    if (si >= s.length) return false;
    if (c !== "?" && c !== s[si]) return false;
    pi++;
    si++;
  }
  return si === s.length;
}
