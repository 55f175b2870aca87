/**
 * One base error with a stable string `code`, so callers (the CLI's exit codes, the HTTP
 * error format) can switch on it. Families are kept apart: bad input, verification failure,
 * denial, configuration, storage and internal faults never share a code.
 */
export type ErrorCode =
  | 'BAD_INPUT' // malformed or oversized input from a user or client
  | 'CONFIG_INVALID' // a configuration key has the wrong form
  | 'VERIFICATION_FAILED' // a signature, chain, proof or checkpoint does not verify
  | 'NOT_FOUND'
  | 'CONFLICT' // e.g. an inconsistent checkpoint, a duplicate id
  | 'STORE_ERROR' // the database failed or refused
  | 'STORE_TOO_NEW' // the database was written by a newer Warden
  | 'KEY_ERROR' // a key is missing, unusable or in the wrong state
  | 'AUTH_FAILED' // no valid credential: the caller is not authenticated (HTTP 401)
  | 'FORBIDDEN' // authenticated, but not allowed (HTTP 403), e.g. a suspended agent
  | 'INTERNAL';

/** Base class of every error Warden raises on purpose. */
export class WardenError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'WardenError';
  }
}

export class BadInputError extends WardenError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('BAD_INPUT', message, options);
    this.name = 'BadInputError';
  }
}

export class ConfigError extends WardenError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CONFIG_INVALID', message, options);
    this.name = 'ConfigError';
  }
}

/** Integrity errors carry the evidence: which entry failed and why. */
export class VerificationError extends WardenError {
  readonly seq: number | undefined;
  constructor(message: string, seq?: number) {
    super('VERIFICATION_FAILED', seq === undefined ? message : `seq ${seq}: ${message}`);
    this.seq = seq;
    this.name = 'VerificationError';
  }
}

export class StoreError extends WardenError {
  constructor(message: string, options?: { cause?: unknown; code?: 'STORE_ERROR' | 'STORE_TOO_NEW' | 'CONFLICT' | 'NOT_FOUND' }) {
    super(options?.code ?? 'STORE_ERROR', message, options);
    this.name = 'StoreError';
  }
}

export class KeyError extends WardenError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('KEY_ERROR', message, options);
    this.name = 'KeyError';
  }
}

/**
 * An authentication or authorisation failure. `reason` is a short, stable, non-leaking text
 * (it goes to the client and into the deny receipt); details stay out of it.
 */
export class AuthError extends WardenError {
  readonly reason: string;
  constructor(reason: string, options?: { forbidden?: boolean; cause?: unknown }) {
    super(options?.forbidden ? 'FORBIDDEN' : 'AUTH_FAILED', reason, options);
    this.reason = reason;
    this.name = 'AuthError';
  }
}
