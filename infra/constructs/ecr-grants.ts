/**
 * The copier's ECR permissions: GetAuthorizationToken (an action without resources, so on "*",
 * acknowledged for cdk-nag), pulls on the source repositories, and pushes, pulls and repository
 * creation on the destination repositories named in context; nothing else in ECR.
 */
import { Aws, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { EcrSettings } from '../ecr-settings.js';

const PULL = ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchCheckLayerAvailability', 'ecr:ListImages', 'ecr:DescribeImages'];
const PUSH = ['ecr:InitiateLayerUpload', 'ecr:UploadLayerPart', 'ecr:CompleteLayerUpload', 'ecr:PutImage'];
// TagResource: CreateRepository with tags needs it on the new repository.
const CREATE = ['ecr:CreateRepository', 'ecr:DescribeRepositories', 'ecr:TagResource'];

/** The ARN of a context entry: a full ARN as given, else a repository of the stack's account and region. */
export function repositoryArn(entry: string): string {
  return entry.startsWith('arn:') ? entry : `arn:${Aws.PARTITION}:ecr:${Aws.REGION}:${Aws.ACCOUNT_ID}:repository/${entry}`;
}

/** How cdk-nag names a resource in a finding id: pseudo parameters as `<AWS::...>`. */
function findingResource(entry: string): string {
  return entry.startsWith('arn:') ? entry : `arn:<AWS::Partition>:ecr:<AWS::Region>:<AWS::AccountId>:repository/${entry}`;
}

/** Adds the grants to `role`; nothing when no repository is named. */
export function grantEcr(role: iam.IRole, settings: EcrSettings): void {
  if (settings.destinations.length === 0 && settings.sources.length === 0) return;
  role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['ecr:GetAuthorizationToken'], resources: ['*'] }));
  Validations.of(role).acknowledge({
    id: 'AwsSolutions-IAM5[Resource::*]',
    reason:
      'ecr:GetAuthorizationToken supports no resource-level permission; the token only reaches the repositories granted by name in the other statements.',
  });
  if (settings.sources.length > 0) {
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: PULL, resources: settings.sources.map(repositoryArn) }));
  }
  if (settings.destinations.length > 0) {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: [...PULL, ...PUSH, ...CREATE], resources: settings.destinations.map(repositoryArn) }),
    );
  }
  for (const entry of new Set([...settings.sources, ...settings.destinations])) {
    if (!entry.includes('*')) continue;
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${findingResource(entry)}]`,
      reason: `The repositories the stack was deployed for (context ecrDestinations/ecrSources: ${entry}); the pattern is the user's choice.`,
    });
  }
}
