/**
 * Table grants include `<table>/index/*`, which cdk-nag reports as a wildcard. The only index is the
 * stack's own sparse `failures` index, so the finding is acknowledged with that reason, per role.
 */
import { type CfnResource, Stack, Validations } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as iam from 'aws-cdk-lib/aws-iam';

/** Acknowledges the index wildcard of a grant on `table` to `role`. */
export function acknowledgeTableIndexes(role: iam.IRole, table: dynamodb.ITableV2): void {
  const logicalId = Stack.of(table).resolve((table.node.defaultChild as CfnResource).logicalId) as string;
  Validations.of(role).acknowledge({
    id: `AwsSolutions-IAM5[Resource::<${logicalId}.Arn>/index/*]`,
    reason: 'The run table has one index, the sparse "failures" index of failed tasks that status pages through; no other table is named.',
  });
}
