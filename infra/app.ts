/**
 * The CDK app entry point (`cdk.json`: `npx tsx infra/app.ts`).
 * Context: workers (default 7), retries (3), runTtlDays (30), copierTimeoutMinutes (10), copierMemoryMb (1024),
 * stackName (ImageMigrator), schedules ({ NAME: "rate(1 day)" }), defaultRegistry and
 * defaultNamespace (for empty destinations of scheduled rules), runState (true; false compares
 * every tag in full, as --no-state).
 */
import { App } from 'aws-cdk-lib';
import { buildApp } from './build-app.js';

const app = new App();
buildApp(app);
app.synth();
