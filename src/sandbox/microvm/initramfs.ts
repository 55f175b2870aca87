/**
 * A newc ("070701") cpio archive built in memory, the format the Linux kernel unpacks as an
 * initramfs. No external `cpio`: entries are directories, regular files, symlinks and character
 * devices, every one owned by root (uid/gid 0) with the mode given; parents must be added before
 * their children (the kernel creates entries in archive order). Uncompressed on purpose: under
 * TCG the guest would spend longer decompressing than the host spends copying.
 */
import { BadInputError } from '../../errors.js';

export type CpioEntry =
  | { type: 'dir'; path: string; mode: number }
  | { type: 'file'; path: string; mode: number; data: Buffer }
  | { type: 'symlink'; path: string; target: string }
  | { type: 'chardev'; path: string; mode: number; major: number; minor: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

const hex8 = (n: number) => n.toString(16).padStart(8, '0');
const pad4 = (n: number) => (4 - (n % 4)) % 4;

function header(fields: { ino: number; mode: number; nlink: number; size: number; rdevMajor?: number; rdevMinor?: number; nameSize: number }): string {
  return '070701' + [
    fields.ino, fields.mode, 0, 0, fields.nlink, 0, fields.size, 0, 0,
    fields.rdevMajor ?? 0, fields.rdevMinor ?? 0, fields.nameSize, 0,
  ].map(hex8).join('');
}

/** The archive's name for a path: no leading slash, no empty, `.` or `..` components, no NUL. */
function archiveName(path: string): string {
  const parts = path.split('/').filter((p) => p !== '');
  if (path.includes('\0') || parts.length === 0 || parts.some((p) => p === '.' || p === '..')) {
    throw new BadInputError(`invalid initramfs path ${JSON.stringify(path)}`);
  }
  return parts.join('/');
}

/** Builds the archive (with its TRAILER!!! entry). */
export function buildCpio(entries: CpioEntry[]): Buffer {
  const chunks: Buffer[] = [];
  let ino = 1;
  const push = (head: string, name: string, data: Buffer) => {
    const nameBuf = Buffer.from(`${name}\0`, 'utf8');
    const h = Buffer.from(head, 'ascii');
    chunks.push(h, nameBuf, Buffer.alloc(pad4(h.length + nameBuf.length)), data, Buffer.alloc(pad4(data.length)));
  };
  for (const e of entries) {
    const name = archiveName(e.path);
    const nameSize = Buffer.byteLength(name, 'utf8') + 1;
    switch (e.type) {
      case 'dir':
        push(header({ ino: ino++, mode: S_IFDIR | (e.mode & 0o7777), nlink: 2, size: 0, nameSize }), name, Buffer.alloc(0));
        break;
      case 'file':
        push(header({ ino: ino++, mode: S_IFREG | (e.mode & 0o7777), nlink: 1, size: e.data.length, nameSize }), name, e.data);
        break;
      case 'symlink': {
        const target = Buffer.from(e.target, 'utf8');
        push(header({ ino: ino++, mode: S_IFLNK | 0o777, nlink: 1, size: target.length, nameSize }), name, target);
        break;
      }
      case 'chardev':
        push(header({ ino: ino++, mode: S_IFCHR | (e.mode & 0o7777), nlink: 1, size: 0, rdevMajor: e.major, rdevMinor: e.minor, nameSize }), name, Buffer.alloc(0));
        break;
    }
  }
  push(header({ ino: 0, mode: 0, nlink: 1, size: 0, nameSize: 'TRAILER!!!'.length + 1 }), 'TRAILER!!!', Buffer.alloc(0));
  return Buffer.concat(chunks);
}

/** Single-quotes a string for a POSIX shell: `'…'` with each `'` written as `'\''`. NUL cannot be passed. */
export function shQuote(s: string): string {
  if (s.includes('\0')) throw new BadInputError('a NUL byte cannot be passed to the microvm guest');
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
