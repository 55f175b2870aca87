/**
 * What an operator sees of a match (`excerpt`, never the secret) and what replaces it when
 * the policy says redact. Format-preserving where the format carries meaning and reveals
 * little: a card keeps its issuer digits and last four (PCI DSS display rule), an SSN and an
 * IBAN their last four; credentials become `[REDACTED:<type>]`.
 */

/** Known public prefixes worth showing in an excerpt: they identify the kind, not the key. */
const PUBLIC_PREFIX = /^(?:AKIA|ASIA|ABIA|ACCA|AIza|GOCSPX-|ya29\.|[sr]k_live_|[sr]k_test_|whsec_|xox[abposre]-|gh[pousr]_|github_pat_|eyJ|npm_|glpat-|hf_|sk-ant-|sk-proj-|sk-|SG\.|-----BEGIN [A-Z ]{0,40}-----)/;

const DESCRIPTIONS: Readonly<Record<string, string>> = {
  private_key: 'a private key',
  jwt: 'a JSON Web Token',
  aws_access_key: 'an AWS access key id',
  aws_secret_key: 'an AWS secret access key',
  gcp_api_key: 'a Google API key',
  gcp_service_account: 'a Google service-account credential',
  gcp_oauth_secret: 'a Google OAuth client secret',
  gcp_access_token: 'a Google OAuth access token',
  azure_storage_key: 'an Azure storage account key',
  azure_shared_access_key: 'an Azure shared access key',
  azure_sas_token: 'an Azure SAS signature',
  stripe_secret_key: 'a Stripe live secret key',
  stripe_test_key: 'a Stripe test key',
  stripe_webhook_secret: 'a Stripe webhook secret',
  slack_token: 'a Slack token',
  slack_webhook: 'a Slack webhook URL',
  github_token: 'a GitHub token',
  password: 'a password',
  generic_secret: 'a high-entropy secret assigned to a secret-looking key',
  bearer_token: 'a bearer token',
  basic_auth: 'HTTP Basic credentials',
  url_credentials: 'credentials in a URL',
  database_credentials: 'database connection credentials',
  credit_card: 'a payment card number',
  iban: 'an IBAN',
  ssn: 'a US social security number',
  email: 'an e-mail address',
  phone: 'a phone number',
  honeytoken: 'a honeytoken (canary credential planted by Warden)',
  dlp_scan_incomplete: 'an input the scanner could not cover completely',
};

export function describe(type: string): string {
  return DESCRIPTIONS[type] ?? `a ${type.replace(/_/g, ' ')}`;
}

/** Excerpt for a finding: never more than a public prefix, the last four of a number, or a length. */
export function excerptFor(type: string, value: string): string {
  switch (type) {
    case 'credit_card':
    case 'iban':
    case 'ssn':
    case 'phone':
      return redactionFor(type, value);
    case 'email': {
      const at = value.indexOf('@');
      return `${value.slice(0, 1)}***${value.slice(at)}`;
    }
    default: {
      const prefix = type === 'honeytoken' ? '' : (PUBLIC_PREFIX.exec(value)?.[0] ?? '');
      return `${prefix}…(${value.length} chars)`;
    }
  }
}

/** Masks every digit (or alphanumeric, for IBANs) except the kept ones, keeping separators. */
function maskKeeping(value: string, isMaskable: (c: string) => boolean, keepFirst: number, keepLast: number): string {
  const total = [...value].filter(isMaskable).length;
  let seen = 0;
  let out = '';
  for (const c of value) {
    if (!isMaskable(c)) {
      out += c;
      continue;
    }
    out += seen < keepFirst || seen >= total - keepLast ? c : '*';
    seen++;
  }
  return out;
}

const isDigit = (c: string): boolean => c >= '0' && c <= '9';
const isAlnum = (c: string): boolean => /[A-Za-z0-9]/.test(c);

/** The text that replaces a match under `redact`. */
export function redactionFor(type: string, value: string): string {
  switch (type) {
    case 'credit_card':
      return maskKeeping(value, isDigit, 4, 4); // 4111 **** **** 1111
    case 'ssn':
      return maskKeeping(value, isDigit, 0, 4); // ***-**-6789
    case 'iban':
      return maskKeeping(value, isAlnum, 2, 4); // DE** **** **** **** **30 00
    case 'phone':
      return maskKeeping(value, isDigit, 0, 2);
    default:
      return `[REDACTED:${type}]`;
  }
}
