/**
 * One Lambda function of the pipeline: a handler in functions/handlers/, bundled by the local esbuild (no
 * Docker), with its own log group (retention set) and its own role that can write only to that
 * log group. Everything else a function may do is granted by the stack, resource by resource.
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

/** The repository root: handlers are bundled from `<root>/functions/handlers/<name>.ts` with its lock file. */
export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * The newest Node.js runtime of this aws-cdk-lib: cdk-nag's AwsSolutions-L1 asks for the latest.
 * The handlers are bundled for it (target node24): one Node version for the functions.
 */
export const FUNCTION_RUNTIME = lambda.Runtime.NODEJS_24_X;

export interface MigratorFunctionProps {
  /** Handler file name in functions/handlers/, without `.ts`: `planner`, `copier`, `summary`, `dlq-recorder`. */
  readonly handler: string;
  readonly description: string;
  readonly timeout: Duration;
  readonly memorySize: number;
  readonly environment: Record<string, string>;
  /** Where the handler files are; `<root>/functions/handlers` unless a test supplies its own. */
  readonly handlersDir?: string;
}

/** A NodejsFunction with the project's bundling, runtime, logging and a role of its own. */
export class MigratorFunction extends Construct {
  public readonly function: nodejs.NodejsFunction;
  public readonly role: iam.Role;
  public readonly logGroup: logs.LogGroup;

  public constructor(scope: Construct, id: string, props: MigratorFunctionProps) {
    super(scope, id);
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: logs.RetentionDays.ONE_MONTH,
      // Logs are operational detail of runs that DynamoDB's TTL also forgets; teardown removes them.
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // A role of our own instead of AWSLambdaBasicExecutionRole, whose logs grants cover every log group.
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `${props.handler} function of image-migrator`,
    });
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [this.logGroup.logGroupArn],
      }),
    );

    this.function = new nodejs.NodejsFunction(this, 'Function', {
      entry: path.join(props.handlersDir ?? path.join(PROJECT_ROOT, 'functions', 'handlers'), `${props.handler}.ts`),
      handler: 'handler',
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: path.join(PROJECT_ROOT, 'package-lock.json'),
      runtime: FUNCTION_RUNTIME,
      architecture: lambda.Architecture.ARM_64,
      description: props.description,
      timeout: props.timeout,
      memorySize: props.memorySize,
      role: this.role,
      logGroup: this.logGroup,
      environment: { ...props.environment, NODE_OPTIONS: '--enable-source-maps' },
      bundling: {
        format: nodejs.OutputFormat.ESM,
        target: 'node24',
        minify: true,
        // Errors are reported to callers by class name (Lambda's errorType), which minifying would mangle.
        keepNames: true,
        sourceMap: true,
        mainFields: ['module', 'main'],
        // The runtime ships AWS SDK v3; bundling it again would only grow cold starts.
        externalModules: ['@aws-sdk/*'],
        // Dependencies written as CommonJS call require() on Node built-ins; an ES module has no
        // require, so the bundle gets one.
        banner: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
        forceDockerBundling: false,
      },
    });
  }
}
