/**
 * How audit resolves an organization named by id or slug. Tenancy's Organizations provides it;
 * audit stands below every capability it records (docs/architecture.md §2), so it names only this.
 */
export interface OrganizationRefs {
  /** The organization, or a `not_found` error. */
  require(ref: string): Promise<{ id: string }>;
}
