/**
 * Amazon ECR's registry host names: `ACCOUNT.dkr.ecr.REGION.amazonaws.com` (and `.amazonaws.com.cn`,
 * the FIPS `dkr.ecr-fips` and dual-stack `dkr-ecr ... on.aws` forms), and `public.ecr.aws`.
 */

/** The registry of ECR Public. */
export const ECR_PUBLIC = 'public.ecr.aws';

/** ECR Public's API lives in one region. */
export const ECR_PUBLIC_REGION = 'us-east-1';

const PRIVATE_HOST = /^(\d{12})\.dkr[.-]ecr(-fips)?\.([a-z0-9-]+)\.(amazonaws\.com(\.cn)?|on\.aws|on\.amazonwebservices\.com\.cn)$/;

/** Account and region of a private ECR host, or undefined for any other host. */
export function parseEcrHost(registry: string): { account: string; region: string } | undefined {
  const match = PRIVATE_HOST.exec(registry.toLowerCase());
  return match === null ? undefined : { account: match[1] ?? '', region: match[3] ?? '' };
}
