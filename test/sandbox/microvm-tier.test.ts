/**
 * The microvm tier on a real qemu. SLOW: each VM run boots a kernel (~5 s under TCG, which is
 * what hosts without VT-x/AMD-V get), so there are only three: one functional run (argv and
 * environment quoting, stdin, stdout/stderr, exit status, uid 65534, no network device, host
 * files invisible except the granted one), one cut at its output cap and killed at its time
 * limit, one killed by its memory limit. The archive and frame parsing are tested without a VM.
 * Skips when qemu, a kernel or a static busybox is missing.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProcessRunSpec } from '../../src/sandbox/process-tier.js';
import { microvmTierAvailable, parseFrame, runMicrovmTier } from '../../src/sandbox/microvm-tier.js';
import { buildCpio, shQuote } from '../../src/sandbox/microvm/initramfs.js';
import { initScript } from '../../src/sandbox/microvm/guest.js';

const availability = microvmTierAvailable();
if (!availability.ok) console.warn(`microvm-tier tests SKIPPED: ${availability.reason}`);

const base = (command: string[], extra: Partial<ProcessRunSpec> = {}): ProcessRunSpec => ({
  command, seccomp: Buffer.alloc(0), limits: { memoryBytes: 64 << 20, cpuQuota: 1, pids: 64, timeMs: 20_000 }, ...extra,
});

describe('microvm pieces (no VM)', () => {
  it('builds a newc archive with aligned entries and a trailer', () => {
    const a = buildCpio([{ type: 'dir', path: '/d', mode: 0o755 }, { type: 'file', path: '/d/f', mode: 0o644, data: Buffer.from('abc') }]);
    expect(a.subarray(0, 6).toString()).toBe('070701');
    expect(a.length % 4).toBe(0);
    expect(a.includes(Buffer.from('d/f\0'))).toBe(true);
    expect(a.includes(Buffer.from('TRAILER!!!\0'))).toBe(true);
    expect(() => buildCpio([{ type: 'dir', path: '/../x', mode: 0o755 }])).toThrow();
  });

  it('quotes for the guest shell and refuses what it cannot pass', () => {
    expect(shQuote(`it's $(x)`)).toBe(`'it'\\''s $(x)'`);
    expect(() => shQuote('a\0b')).toThrow();
    const g = { env: {}, stdin: Buffer.alloc(0), readPaths: [], memoryBytes: 1 << 20, pids: 8, cpuQuota: 1, timeMs: 1000, maxOutputBytes: 10, marker: 'M-1', busyboxPath: '/bin/busybox' };
    expect(() => initScript({ ...g, command: ['A=b', 'x'] })).toThrow(/"="/);
    expect(() => initScript({ ...g, command: ['x'], env: { 'BAD NAME': '1' } })).toThrow(/environment/);
    expect(initScript({ ...g, command: ['echo', `'; reboot -f; '`] })).toContain(`'\\''; reboot -f; '\\'''`);
  });

  it('parses only a complete frame whose lengths match', () => {
    const m = 'WARDEN-x';
    const ok = `[ 1.0] noise\r\n${m} meta rc=3 timedout=0 oom=0 cpu_us=1500 peak=4096 out=2 err=0\r\n${m} out\r\naGk=\r\n${m} err\r\n${m} end\r\n`;
    expect(parseFrame(ok, m)).toMatchObject({ rc: 3, cpuUs: 1500, peak: 4096, stdout: Buffer.from('hi') });
    expect(parseFrame(ok.replace('out=2', 'out=3'), m)).toBeUndefined();
    expect(parseFrame(ok.replace(`${m} end`, ''), m)).toBeUndefined();
  });
});

describe.skipIf(!availability.ok)('microvm tier (slow: boots qemu)', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'warden-microvm-test-'));
    writeFileSync(join(dir, 'granted.txt'), 'granted content\n');
    writeFileSync(join(dir, 'secret.txt'), 'host secret\n');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs the command with its argv, env and stdin; passes out stdout, stderr and exit status', async () => {
    const script = [
      'echo "uid=$(id -u) gid=$(id -g)"', 'echo "arg=$1"', 'echo "env=$GREETING"', 'echo "keys=$(env | cut -d= -f1 | sort | tr "\\n" " ")"',
      'echo "stdin=$(cat)"', `cat ${dir}/granted.txt`, `[ -e ${dir}/secret.txt ] && echo SECRET_VISIBLE`,
      'echo "nics=$(ls /sys/class/net | tr "\\n" " ")"', 'echo oops >&2', 'exit 7',
    ].join('\n');
    const r = await runMicrovmTier(base(['sh', '-c', script, 'warden', `it's "quoted" $(reboot -f) \`x\``], {
      env: { GREETING: `hello 'world'\nline2` }, stdin: Buffer.from('from stdin'), fs: { read: [join(dir, 'granted.txt')] },
    }));
    console.log(`microvm run: accel=${r.accel} boot=${r.bootMs} ms total=${r.durationMs} ms cpu=${r.cpuTimeMs} ms peak=${r.peakMemoryBytes}`);
    const out = r.stdout.toString();
    expect(r.exitCode).toBe(7);
    expect(r.signal).toBeNull();
    expect(r.killed).toBeNull();
    expect(out).toContain('uid=65534 gid=65534');
    expect(out).toContain(`arg=it's "quoted" $(reboot -f) \`x\``);
    expect(out).toContain(`env=hello 'world'\nline2`);
    expect(out).toContain('keys=GREETING HOME LANG PATH ');
    expect(out).toContain('stdin=from stdin');
    expect(out).toContain('granted content');
    expect(out).not.toContain('SECRET_VISIBLE');
    expect(out).toMatch(/nics=(lo )?\n/);
    expect(r.stderr.toString()).toBe('oops\n');
    expect(r.cpuTimeMs).not.toBeNull();
  }, 120_000);

  it('cuts output at the cap and kills the command at its time limit', async () => {
    const r = await runMicrovmTier(base(['sh', '-c', 'yes | head -c 100000; sleep 600'], {
      maxOutputBytes: 1000, limits: { memoryBytes: 64 << 20, cpuQuota: 1, pids: 64, timeMs: 1500 },
    }));
    expect(r.killed).toBe('timeout');
    expect(r.exitCode).toBeNull();
    expect(r.signal).toBe('SIGKILL');
    expect(r.stdout.length).toBe(1000);
  }, 120_000);

  it('kills the command at its memory limit', async () => {
    const r = await runMicrovmTier(base(['sh', '-c', 'x=$(head -c 80000000 /dev/zero | tr "\\0" a); echo survived'], {
      limits: { memoryBytes: 32 << 20, cpuQuota: 1, pids: 64, timeMs: 60_000 },
    }));
    expect(r.killed).toBe('memory');
    expect(r.stdout.toString()).not.toContain('survived');
  }, 180_000);
});
