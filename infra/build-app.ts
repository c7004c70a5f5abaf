/**
 * Builds the CDK app: reads the context settings, adds the stack and the cdk-nag checks. Shared by
 * infra/app.ts (the `cdk` entry point) and the template tests.
 */
import { type App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from './nag.js';
import { ImageMigratorStack } from './image-migrator-stack.js';
import { readStackSettings } from './settings.js';

/**
 * Adds the image-migrator stack to `app`. `handlersDir` replaces functions/handlers/ (tests only).
 * @throws StackSettingsError when a context value is invalid, so synth fails with its message.
 */
export function buildApp(app: App, options: { handlersDir?: string } = {}): ImageMigratorStack {
  const settings = readStackSettings(app.node);
  const stack = new ImageMigratorStack(app, settings.stackName, {
    settings,
    handlersDir: options.handlersDir,
    description: 'image-migrator: copies container images between registries with Lambda, SQS and DynamoDB',
  });
  // cdk-nag 3 is a policy-validation plugin: any unacknowledged finding fails synth.
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true, writeSuppressionsToCloudFormation: true }));
  return stack;
}
