/**
 * Secret names. A secret reaches a sandboxed tool as an environment variable of the same name,
 * so a name must be a portable variable name — and must not be one the sandbox sets itself or
 * one the dynamic loader, a shell or an interpreter acts on: a "secret" called `LD_PRELOAD`,
 * `HTTPS_PROXY` or `NODE_OPTIONS` would change how the tool runs (or route it around Warden's
 * egress proxy) rather than hand it a credential.
 */

/** 1–64 characters: an upper-case letter or `_`, then upper-case letters, digits or `_`. */
export const SECRET_NAME = /^[A-Z_][A-Z0-9_]{0,63}$/;

/** Most secrets one manifest may request. */
export const MAX_MANIFEST_SECRETS = 64;

/** Prefixes owned by the loader (`LD_`), Warden's sandbox (`WARDEN_`) and glibc tunables. */
const RESERVED_PREFIXES = ['LD_', 'WARDEN_', 'GLIBC_'] as const;

/** Variables the sandbox sets, or that make a shell, interpreter or TLS stack load other code or trust other CAs. */
const RESERVED_NAMES: ReadonlySet<string> = new Set([
  'PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'PWD', 'TMPDIR', 'TERM', 'LANG', 'TZ', 'IFS', 'ENV', 'BASH_ENV', 'PS4',
  'HTTP_PROXY', 'HTTPS_PROXY', 'ALL_PROXY', 'NO_PROXY', 'FTP_PROXY',
  'NODE_OPTIONS', 'NODE_PATH', 'NODE_EXTRA_CA_CERTS', 'NODE_TLS_REJECT_UNAUTHORIZED',
  'PYTHONPATH', 'PYTHONHOME', 'PYTHONSTARTUP', 'PYTHONINSPECT', 'PYTHONWARNINGS',
  'PERL5LIB', 'PERL5OPT', 'RUBYLIB', 'RUBYOPT', 'JAVA_TOOL_OPTIONS', 'CLASSPATH',
  'SSL_CERT_FILE', 'SSL_CERT_DIR', 'REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE', 'GIT_SSL_CAINFO',
]);

/**
 * Why `name` cannot be a secret name, or undefined when it can.
 *
 * @example
 * secretNameProblem('EXAMPLE_API_KEY') // undefined
 * secretNameProblem('LD_PRELOAD')      // 'is reserved: ...'
 */
export function secretNameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string') return 'expected a string';
  if (!SECRET_NAME.test(name)) {
    return 'expected 1-64 characters of A-Z, 0-9 and _ not starting with a digit (an environment variable name such as EXAMPLE_API_KEY)';
  }
  if (RESERVED_NAMES.has(name) || RESERVED_PREFIXES.some((p) => name.startsWith(p))) {
    return `is reserved: "${name}" would change how the sandboxed program runs (names starting ${RESERVED_PREFIXES.join(', ')} and variables such as PATH, HTTPS_PROXY, NODE_OPTIONS cannot be secrets)`;
  }
  return undefined;
}
