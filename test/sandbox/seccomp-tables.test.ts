/**
 * The syscall numbers against an independent source: the Linux uapi headers installed on this
 * machine, expanded by the C preprocessor. A wrong number would make the filter deny the wrong
 * call and allow the dangerous one, so every number is checked where the headers allow it.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DENY_LIST } from '../../src/sandbox/seccomp/deny-list.js';
import { ARM64_SYSCALLS } from '../../src/sandbox/seccomp/syscalls-arm64.js';
import { X64_SYSCALLS } from '../../src/sandbox/seccomp/syscalls-x64.js';

/** `#define __NR_name value` macros after preprocessing, with `__NR3264_*` aliases resolved. */
function headerTable(source: string, defines: string[]): Record<string, number> {
  const out = execFileSync('cpp', ['-dM', '-P', ...defines, '-'], { input: source, encoding: 'utf8' });
  const macros = new Map<string, string>();
  for (const line of out.split('\n')) {
    const m = /^#define (\S+) (.*)$/.exec(line);
    if (m?.[1] && m[2] !== undefined) macros.set(m[1], m[2].trim());
  }
  const table: Record<string, number> = {};
  for (const [name, raw] of macros) {
    if (!name.startsWith('__NR_') || name === '__NR_syscalls' || name === '__NR_arch_specific_syscall') continue;
    let v = raw;
    for (let i = 0; i < 4 && macros.has(v); i++) v = macros.get(v) as string;
    if (/^\d+$/.test(v)) table[name.slice(5)] = Number(v);
  }
  return table;
}

const X64_HEADER = '/usr/include/x86_64-linux-gnu/asm/unistd_64.h';
const GENERIC_HEADER = '/usr/include/asm-generic/unistd.h';
const haveCpp = (() => {
  try { execFileSync('cpp', ['--version'], { stdio: 'ignore' }); return true; } catch { return false; }
})();
// The switches arch/arm64/include/uapi/asm/unistd.h sets before including the generic table.
const ARM64_WANTS = ['RENAMEAT', 'NEW_STAT', 'SET_GET_RLIMIT', 'TIME32_SYSCALLS', 'SYS_CLONE3', 'MEMFD_SECRET'].map((w) => `-D__ARCH_WANT_${w}`);

describe('syscall tables against the installed uapi headers', () => {
  it.runIf(haveCpp && existsSync(X64_HEADER))('x86_64: every call in <asm/unistd_64.h> has the same number in the table', () => {
    const ref = headerTable('#include <asm/unistd_64.h>\n', []);
    expect(Object.keys(ref).length).toBeGreaterThan(300);
    for (const [name, nr] of Object.entries(ref)) expect(X64_SYSCALLS[name], name).toBe(nr);
  });

  it.runIf(haveCpp && existsSync(GENERIC_HEADER))('aarch64: every call in <asm-generic/unistd.h> (arm64 switches) has the same number', () => {
    const ref = headerTable('#include <asm-generic/unistd.h>\n', ARM64_WANTS);
    expect(Object.keys(ref).length).toBeGreaterThan(250);
    for (const [name, nr] of Object.entries(ref)) expect(ARM64_SYSCALLS[name], name).toBe(nr);
  });

  it('no two names share a number within a table', () => {
    for (const t of [X64_SYSCALLS, ARM64_SYSCALLS]) expect(new Set(Object.values(t)).size).toBe(Object.keys(t).length);
  });
});

describe('deny-list numbers', () => {
  it('match the full tables, and "absent" means absent from the table', () => {
    for (const r of DENY_LIST) {
      expect(r.x64, `${r.name} x64`).toBe(X64_SYSCALLS[r.name] ?? null);
      expect(r.arm64, `${r.name} arm64`).toBe(ARM64_SYSCALLS[r.name] ?? null);
    }
  });

  it('names are unique', () => {
    expect(new Set(DENY_LIST.map((r) => r.name)).size).toBe(DENY_LIST.length);
  });
});
