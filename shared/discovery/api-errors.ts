/**
 * Turns what the Kubernetes client throws (node-fetch system errors, ApiException with a Status
 * body) into a {@link ClusterAccessError} whose message says what went wrong in a user's words.
 */
import { ApiException } from '@kubernetes/client-node';
import { ClusterAccessError, ClusterProblem } from './errors.js';

/** What was being asked for when the error happened. */
export interface ListContext {
  /** The API server URL from the kubeconfig. */
  readonly server: string;
  /** `pods`, `cronjobs.batch`, ... */
  readonly resource: string;
  /** Undefined when listing across all namespaces. */
  readonly namespace: string | undefined;
}

// OpenSSL verification failures as Node reports them in `error.code`.
const TLS_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'EPROTO',
]);
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN']);

interface KubeStatus {
  readonly message?: string;
  readonly reason?: string;
  readonly details?: { readonly kind?: string; readonly group?: string };
}

/** The Status object of an ApiException body (a JSON string or an object), if there is one. */
export function statusOf(body: unknown): KubeStatus | undefined {
  try {
    const value: unknown = typeof body === 'string' ? JSON.parse(body) : body;
    return typeof value === 'object' && value !== null ? value : undefined;
  } catch {
    return undefined;
  }
}

/** The network or TLS error code of a failed request, looking through `cause` chains. */
function systemCode(error: unknown): string | undefined {
  for (let e: unknown = error, depth = 0; e !== undefined && e !== null && depth < 5; depth += 1) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

function where(namespace: string | undefined): string {
  return namespace === undefined ? 'across all namespaces (cluster scope)' : `in namespace ${JSON.stringify(namespace)}`;
}

/** Only the origin of the server URL: a kubeconfig server address may carry user info. */
function origin(server: string): string {
  try {
    return new URL(server).origin;
  } catch {
    return 'the API server';
  }
}

/** Classifies `error`; unknown errors become {@link ClusterProblem.Api} with the status code only. */
export function toClusterAccessError(error: unknown, ctx: ListContext): ClusterAccessError {
  const server = origin(ctx.server);
  if (error instanceof ApiException) {
    const code = (error as ApiException<unknown>).code;
    const status = statusOf((error as ApiException<unknown>).body);
    if (code === 401) {
      return new ClusterAccessError(
        ClusterProblem.Unauthorized,
        `unauthorized (401) by ${server}: the kubeconfig's credentials were not accepted (expired token or certificate?)`,
      );
    }
    if (code === 403) {
      const said = status?.message === undefined ? '' : ` (server: ${status.message})`;
      return new ClusterAccessError(
        ClusterProblem.Forbidden,
        `forbidden: cannot list ${ctx.resource} ${where(ctx.namespace)}${said}; ask for RBAC "list" on ${ctx.resource}` +
          (ctx.namespace === undefined ? ' or pass -n with namespaces you may read' : ''),
      );
    }
    const reason = status?.reason === undefined ? '' : ` ${status.reason}`;
    const said = status?.message === undefined ? '' : `: ${status.message}`;
    return new ClusterAccessError(
      ClusterProblem.Api,
      `listing ${ctx.resource} ${where(ctx.namespace)} failed with HTTP ${code}${reason}${said}`,
    );
  }
  const code = systemCode(error);
  if (code !== undefined && TLS_CODES.has(code)) {
    return new ClusterAccessError(
      ClusterProblem.Tls,
      `TLS failure talking to ${server} (${code}): its certificate is not trusted (check the cluster's certificate-authority data in the kubeconfig)`,
      { cause: error },
    );
  }
  if (code !== undefined && NETWORK_CODES.has(code)) {
    return new ClusterAccessError(ClusterProblem.Unreachable, `cannot reach the cluster at ${server} (${code})`, { cause: error });
  }
  return new ClusterAccessError(
    ClusterProblem.Api,
    `listing ${ctx.resource} ${where(ctx.namespace)} at ${server} failed: ${code ?? (error as Error).name ?? 'unknown error'}`,
    { cause: error },
  );
}
