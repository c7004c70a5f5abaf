/**
 * cdk-nag is CommonJS; imported through its default export, which works from an ES module
 * whatever Node's named-export detection finds.
 */
import cdkNag from 'cdk-nag';

export const { AwsSolutionsChecks } = cdkNag;
