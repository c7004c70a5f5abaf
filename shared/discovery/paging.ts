/**
 * The knobs of paged listings (paged-list.ts), apart from the listing itself, which loads the
 * Kubernetes client: the config command shows the default page size in its help without loading it.
 */

/** Paging knobs. */
export interface PagingOptions {
  /** Items per page; the API server may return fewer. */
  readonly pageSize: number;
  /** How many times an expired listing restarts before giving up. */
  readonly maxRestarts: number;
}

/** Defaults: 500 items a page (kubectl's chunk size), three restarts. */
export const DEFAULT_PAGING: PagingOptions = { pageSize: 500, maxRestarts: 3 } as const;
