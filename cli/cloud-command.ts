/**
 * `image-migrator cloud`: drives a deployed stack. `run` validates images.json locally, invokes the
 * planner and with `--wait` polls the summary function until the run finishes; `status` prints a
 * run's summary; `auth put` stores auth.json (with `${VAR}` resolved here) in the stack's secret.
 * Functions and the secret are found through the stack's outputs (CloudFormation DescribeStacks).
 */
import { gzipSync } from 'node:zlib';
import type { LambdaClient } from '@aws-sdk/client-lambda';
import { InvalidArgumentError, type Command } from 'commander';
import type * as z from 'zod';
import { loadAuthFile, parseAuthFile, type AuthFile } from '../shared/config/auth-file.js';
import { literalValue } from '../shared/config/env-expand.js';
import { loadImagesFile } from '../shared/config/images-file.js';
import { readConfigFile } from '../shared/config/read-config-file.js';
import { ConfigError, ImageMigratorError, InvalidReferenceError, UnknownRunError } from '../shared/errors.js';
import {
  describeIssues,
  FunctionErrorSchema,
  MAX_SUMMARY_FAILURES,
  PlannerResultSchema,
  SummaryViewSchema,
  type PlannerEvent,
  type SummaryEvent,
  type SummaryView,
} from '../shared/pipeline/function-events.js';
import { exitCodeOf } from '../shared/pipeline/run-counts.js';
import { ExitCode } from './exit-code.js';
import { costLines, LIST_PRICES, parsePrices } from './run-cost.js';

/** The stack name `cdk deploy` uses unless the `stackName` context says otherwise. */
export const DEFAULT_STACK = 'ImageMigrator';

/** Where the command writes, reads its environment and finds AWS; tests pass their own. */
export interface CloudCommandIo {
  readonly stdout: { write(chunk: string): unknown };
  readonly stderr: { write(chunk: string): unknown };
  readonly env: NodeJS.ProcessEnv;
  /** Extra AWS client settings (a local endpoint in tests); region and credentials otherwise come from the usual chain. */
  readonly aws?: { endpoint?: string; credentials?: { accessKeyId: string; secretAccessKey: string } };
  /** Between two summary polls of `run --wait`. */
  readonly pollMs?: number;
}

/** A stack, output or function call that the command cannot use; says what to do about it. */
export class CloudCommandError extends ImageMigratorError {
  public constructor(
    message: string,
    public readonly exitCode: ExitCode,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

interface StackOptions {
  stack: string;
  region?: string;
}
interface ReportOptions {
  failures?: number;
  prices?: string;
}
interface RunOptions extends StackOptions, ReportOptions {
  images: string;
  registry?: string;
  namespace?: string;
  wait?: boolean;
  /** false for --no-state. */
  state?: boolean;
}

/** Failed tasks printed unless --failures says otherwise; the summary function returns at most 1,000 a call. */
const DEFAULT_FAILURES = 20;

const processIo: CloudCommandIo = { stdout: process.stdout, stderr: process.stderr, env: process.env };

/** Adds `cloud run`, `cloud status` and `cloud auth put` to `program`. */
export function addCloudCommand(program: Command, io: CloudCommandIo = processIo): void {
  const cloud = program.command('cloud').description('run migrations on the AWS stack deployed with "npx cdk deploy"');
  const stackOptions = (command: Command): Command =>
    command
      .option('--stack <name>', 'name of the deployed stack', DEFAULT_STACK)
      .option('--region <region>', "AWS region of the stack (default: AWS_REGION or the profile's region)");
  const act =
    <A extends unknown[]>(work: (...args: A) => Promise<ExitCode>) =>
    async (...args: A): Promise<void> => {
      process.exitCode = await guard(io, () => work(...args));
    };

  stackOptions(cloud.command('run').description('start a run of the rules in --images on the stack'))
    .requiredOption('--images <file>', 'images file path: the migration rules, source to destination')
    .option('--registry <registry>', 'default target registry for empty destinations (or DEFAULT_REGISTRY)')
    .option('--namespace <namespace>', 'default target namespace for empty destinations (or DEFAULT_NAMESPACE)')
    .option('--wait', 'show progress until the run finishes, print the summary line and exit 0/1 like a local run')
    .option('--no-state', "neither read nor write the stack's run state for this run: every tag is compared in full")
    .option('--failures <n>', `failed tasks to print at the end (default ${DEFAULT_FAILURES}; 0 for none)`, wholeNumber('--failures'))
    .option(
      '--prices <list>',
      `prices for the cost estimate, e.g. "gbSecond=0.0000133334,sqs=0.5" (US dollars; keys ${Object.keys(LIST_PRICES).join(', ')})`,
    )
    .action(act((options: RunOptions) => cloudRun(options, io)));

  stackOptions(
    cloud
      .command('status')
      .argument('<runId>', 'the run id that "cloud run" printed')
      .description('print the counts, requests, estimated cost and failures of a run'),
  )
    .option('--failures <n>', `failed tasks to print (default ${DEFAULT_FAILURES}; 0 for none)`, wholeNumber('--failures'))
    .option(
      '--prices <list>',
      `prices for the cost estimate, e.g. "gbSecond=0.0000133334,sqs=0.5" (US dollars; keys ${Object.keys(LIST_PRICES).join(', ')})`,
    )
    .action(act((runId: string, options: StackOptions & ReportOptions) => cloudStatus(runId, options, io)));

  stackOptions(
    cloud
      .command('auth')
      .description('registry credentials of the stack')
      .command('put')
      .description("store auth.json in the stack's secret, with ${VAR} resolved from this environment"),
  )
    .requiredOption('--auth <file>', 'auth file path: credentials per registry or registry/namespace')
    .action(act((options: StackOptions & { auth: string }) => cloudAuthPut(options, io)));
}

async function guard(io: CloudCommandIo, work: () => Promise<ExitCode>): Promise<ExitCode> {
  try {
    return await work();
  } catch (error) {
    if (!(error instanceof ConfigError || error instanceof CloudCommandError)) throw error;
    io.stderr.write(`image-migrator: ${error.message}\n`);
    return error instanceof CloudCommandError ? error.exitCode : ExitCode.BadInput;
  }
}

/** `cloud run`: local validation first, so a bad file fails here with exit 2 and no AWS call. */
export async function cloudRun(options: RunOptions, io: CloudCommandIo): Promise<ExitCode> {
  const prices = parsePrices(options.prices);
  const registry = options.registry ?? io.env.DEFAULT_REGISTRY;
  const namespace = options.namespace ?? io.env.DEFAULT_NAMESPACE;
  await loadImagesFile(options.images, { registry, namespace });
  // The file's text, not a parsed object: duplicate keys are rules of their own (rule 4 of Huawei's image-migrator).
  const images = await readConfigFile(options.images);
  io.stdout.write('Start to generate images tasks, please wait ...\n');
  const aws = new CloudClients(options, io);
  const outputs = await aws.outputs('PlannerFunctionName', 'SummaryFunctionName');
  const event: PlannerEvent = {
    ...plannerRules(images, options.images),
    trigger: 'manual',
    ...(registry ? { registry } : {}),
    ...(namespace !== undefined ? { namespace } : {}),
    ...(options.state === false ? { state: false } : {}),
  };
  const plan = await aws.invoke(outputs.PlannerFunctionName!, 'planner', event, PlannerResultSchema);
  const fanOut = plan.slices ? ` (${plan.slices} plan slices for the copiers to send)` : '';
  io.stderr.write(`run ${plan.runId}: ${plan.tasks} tasks planned${fanOut}, ${plan.generateFailed} tasks generate failed\n`);
  if (!options.wait) {
    const flags = `${options.stack === DEFAULT_STACK ? '' : ` --stack ${options.stack}`}${options.region ? ` --region ${options.region}` : ''}`;
    io.stdout.write(`Run ${plan.runId} started; follow it with: image-migrator cloud status ${plan.runId}${flags}\n`);
    return ExitCode.Success;
  }
  io.stdout.write('Start to handle images tasks, please wait ...\n');
  let last = '';
  for (;;) {
    // Polls read the counters only; the failures are read once, when the run has finished.
    const summary = await aws.invoke(
      outputs.SummaryFunctionName!,
      'summary',
      { runId: plan.runId, failures: 0 } satisfies SummaryEvent,
      SummaryViewSchema,
    );
    const progress = progressLine(summary);
    if (progress !== last) io.stderr.write(`${progress}\n`);
    last = progress;
    if (summary.finished) {
      const final = await summaryWithFailures(aws, outputs.SummaryFunctionName!, plan.runId, options.failures ?? DEFAULT_FAILURES);
      for (const line of costLines(final.usage, final.tasks, prices)) io.stderr.write(`${line}\n`);
      return report(final, io);
    }
    await new Promise((resolve) => setTimeout(resolve, io.pollMs ?? 5000));
  }
}

/** images.json texts above this go to the planner gzipped: Lambda takes at most 6 MB in a synchronous invocation. */
export const INLINE_RULES_BYTES = 1024 * 1024;
const LAMBDA_EVENT_BYTES = 6 * 1024 * 1024;

/**
 * The rules as the planner event carries them: the text itself, or gzipped in base64 when large
 * (images.json compresses about tenfold, so some 500,000 rules fit). Too large even then: exit 2.
 */
function plannerRules(text: string, file: string): Pick<PlannerEvent, 'images' | 'imagesGzip'> {
  const bytes = Buffer.byteLength(text);
  if (bytes <= INLINE_RULES_BYTES) return { images: text };
  const imagesGzip = gzipSync(text).toString('base64');
  if (imagesGzip.length > LAMBDA_EVENT_BYTES - 64 * 1024) {
    const mb = (n: number): string => (n / 1024 / 1024).toFixed(1);
    throw new CloudCommandError(
      `${file} is ${mb(bytes)} MB, ${mb(imagesGzip.length)} MB gzipped in base64: more than the 6 MB a Lambda invocation takes; ` +
        'split the rules into several files and start a run for each',
      ExitCode.BadInput,
    );
  }
  return { imagesGzip };
}

/** The summary with up to `wanted` failures, paged from the summary function. */
async function summaryWithFailures(aws: CloudClients, functionName: string, runId: string, wanted: number): Promise<SummaryView> {
  const page = (failures: number, after?: string): SummaryEvent => ({
    runId,
    failures: Math.min(failures, MAX_SUMMARY_FAILURES),
    ...(after === undefined ? {} : { after }),
  });
  let summary = await aws.invoke(functionName, 'summary', page(wanted), SummaryViewSchema);
  const failures = [...summary.failures];
  while (failures.length < wanted && summary.nextFailures !== undefined) {
    summary = await aws.invoke(functionName, 'summary', page(wanted - failures.length, summary.nextFailures), SummaryViewSchema);
    for (const failure of summary.failures) failures.push(failure);
  }
  return { ...summary, failures };
}

/** `cloud status`: the run's counts and failures; the exit code of a finished run is the local one. */
export async function cloudStatus(runId: string, options: StackOptions & ReportOptions, io: CloudCommandIo): Promise<ExitCode> {
  const prices = parsePrices(options.prices);
  const aws = new CloudClients(options, io);
  const outputs = await aws.outputs('SummaryFunctionName');
  const summary = await summaryWithFailures(aws, outputs.SummaryFunctionName!, runId, options.failures ?? DEFAULT_FAILURES);
  io.stdout.write(
    `Run ${summary.runId} (${summary.trigger}, started ${summary.startedAt}): ${summary.finished ? 'finished' : 'in progress'}\n`,
  );
  io.stdout.write(
    `${progressLine(summary)}, ${summary.bytes} bytes copied${summary.requests === undefined ? '' : `, ${summary.requests} registry requests`}\n`,
  );
  for (const line of costLines(summary.usage, summary.tasks, prices)) io.stdout.write(`${line}\n`);
  if (!summary.finished) return ExitCode.Success;
  return report(summary, io);
}

/** `cloud auth put`: validated and resolved locally; the value is sent to Secrets Manager only. */
export async function cloudAuthPut(options: StackOptions & { auth: string }, io: CloudCommandIo): Promise<ExitCode> {
  const auth = await loadAuthFile(options.auth, io.env);
  const text = resolvedAuthJson(auth);
  const aws = new CloudClients(options, io);
  const { AuthSecretArn } = await aws.outputs('AuthSecretArn');
  try {
    await aws.putSecret(AuthSecretArn!, text);
  } catch (error) {
    throw new CloudCommandError(
      `could not store auth.json in the secret of stack "${options.stack}": ${awsMessage(error)}`,
      ExitCode.PartialFailure,
      { cause: error },
    );
  }
  io.stdout.write(`Stored ${auth.keys.length} registry entries of ${options.auth} in the secret of stack "${options.stack}"\n`);
  return ExitCode.Success;
}

/**
 * auth.json with every `${VAR}` replaced by its value. The functions parse the secret with an empty
 * environment, so a `$` inside a resolved value is written `$$` to stay literal.
 */
export function resolvedAuthJson(auth: AuthFile): string {
  const document: Record<string, Record<string, unknown>> = {};
  for (const key of auth.keys) {
    const slash = key.indexOf('/');
    const credential = slash < 0 ? auth.lookup(key, '') : auth.lookup(key.slice(0, slash), key.slice(slash + 1));
    document[key] = {
      ...(credential.username === undefined ? {} : { username: literalValue(credential.username) }),
      ...(credential.password === undefined ? {} : { password: literalValue(credential.password) }),
      ...(credential.insecure ? { insecure: true } : {}),
      ...(credential.ecr === undefined ? {} : { ecr: credential.ecr }),
      ...(credential.createRepositories === undefined ? {} : { createRepositories: credential.createRepositories }),
    };
  }
  const text = JSON.stringify(document);
  parseAuthFile(text, 'resolved auth.json', {}); // the form the functions will read must parse
  return text;
}

function progressLine(s: SummaryView): string {
  const done = s.copied + s.upToDate + s.failed;
  return `${done}/${s.tasks} tasks done: ${s.copied} copied, ${s.upToDate} up to date, ${s.failed} failed, ${s.generateFailed} tasks generate failed`;
}

function report(summary: SummaryView, io: CloudCommandIo): ExitCode {
  for (const f of summary.generateFailures) io.stderr.write(`generate failed: ${f.source}: ${f.error}\n`);
  for (const f of summary.failures) io.stderr.write(`failed: ${f.source} -> ${f.destination}: ${f.error}\n`);
  const unshown = summary.failed - summary.failures.length;
  if (unshown > 0) io.stderr.write(`... and ${unshown} more failed tasks (show them with --failures ${summary.failed})\n`);
  io.stdout.write(`${summary.line}\n`);
  return exitCodeOf(summary);
}

function wholeNumber(flag: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n))
      throw new InvalidArgumentError(`${flag} must be a whole number, not ${JSON.stringify(value)}`);
    return n;
  };
}

function awsMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * The AWS clients of one command, and the calls the commands make. The SDK's clients are loaded at
 * their first call (about 0.1 s of CPU), so that help and the other commands do without them.
 */
class CloudClients {
  private readonly config: { region?: string; endpoint?: string; credentials?: { accessKeyId: string; secretAccessKey: string } };
  private lambdaClient: LambdaClient | undefined;

  public constructor(
    private readonly options: StackOptions,
    io: CloudCommandIo,
  ) {
    this.config = { ...(options.region ? { region: options.region } : {}), ...io.aws };
  }

  /** Stores `text` as the value of the secret `secretId`. */
  public async putSecret(secretId: string, text: string): Promise<void> {
    const { PutSecretValueCommand, SecretsManagerClient } = await import('@aws-sdk/client-secrets-manager');
    const client = new SecretsManagerClient(this.config);
    try {
      await client.send(new PutSecretValueCommand({ SecretId: secretId, SecretString: text }));
    } finally {
      client.destroy();
    }
  }

  /** The named outputs of the stack; a missing stack or output is an error that says how to fix it. */
  public async outputs(...names: string[]): Promise<Record<string, string>> {
    const { CloudFormationClient, CloudFormationServiceException, DescribeStacksCommand } = await import('@aws-sdk/client-cloudformation');
    const client = new CloudFormationClient(this.config);
    const stack = this.options.stack;
    let found;
    try {
      found = (await client.send(new DescribeStacksCommand({ StackName: stack }))).Stacks?.[0];
    } catch (error) {
      const where = this.options.region ? ` in region ${this.options.region}` : '';
      // CloudFormation has no error class of its own for a missing stack: it is a ValidationError.
      if (error instanceof CloudFormationServiceException && error.name === 'ValidationError' && /does not exist/.test(error.message)) {
        throw new CloudCommandError(
          `stack "${stack}" was not found${where}: deploy it with "npx cdk deploy", or name it with --stack and --region`,
          ExitCode.BadInput,
          { cause: error },
        );
      }
      throw new CloudCommandError(`could not read stack "${stack}"${where}: ${awsMessage(error)}`, ExitCode.PartialFailure, {
        cause: error,
      });
    } finally {
      client.destroy();
    }
    const values = Object.fromEntries((found?.Outputs ?? []).map((o) => [o.OutputKey ?? '', o.OutputValue ?? '']));
    for (const name of names) {
      if (!values[name]) {
        throw new CloudCommandError(
          `stack "${stack}" has no output "${name}": is it an image-migrator stack? Deploy this version with "npx cdk deploy"`,
          ExitCode.BadInput,
        );
      }
    }
    return values;
  }

  /**
   * Invokes a function synchronously with a JSON event and checks its answer against `schema`. A
   * function's error is rethrown: bad input (a ConfigError of the planner, an unknown run) exits 2.
   */
  public async invoke<S extends z.ZodType>(functionName: string, what: string, event: unknown, schema: S): Promise<z.infer<S>> {
    const { InvokeCommand, LambdaClient } = await import('@aws-sdk/client-lambda');
    this.lambdaClient ??= new LambdaClient(this.config);
    let response;
    try {
      response = await this.lambdaClient.send(
        new InvokeCommand({ FunctionName: functionName, Payload: new TextEncoder().encode(JSON.stringify(event)) }),
      );
    } catch (error) {
      throw new CloudCommandError(`could not invoke the ${what} function: ${awsMessage(error)}`, ExitCode.PartialFailure, { cause: error });
    }
    const text = new TextDecoder().decode(response.Payload ?? new Uint8Array());
    let payload: unknown;
    try {
      payload = text.length === 0 ? undefined : JSON.parse(text);
    } catch (error) {
      throw new CloudCommandError(`the ${what} function answered something other than JSON`, ExitCode.PartialFailure, { cause: error });
    }
    if (response.FunctionError !== undefined) {
      const failure = FunctionErrorSchema.safeParse(payload);
      const type = (failure.success ? failure.data.errorType : undefined) ?? response.FunctionError;
      const message = (failure.success ? failure.data.errorMessage : undefined) ?? 'no message';
      throw new CloudCommandError(
        `the ${what} function failed: ${message}`,
        isBadInput(type) ? ExitCode.BadInput : ExitCode.PartialFailure,
      );
    }
    const answer = schema.safeParse(payload);
    if (!answer.success) {
      throw new CloudCommandError(
        `the ${what} function answered in an unexpected form (${describeIssues(answer.error)}): deploy this version with "npx cdk deploy"`,
        ExitCode.PartialFailure,
        { cause: answer.error },
      );
    }
    return answer.data;
  }
}

/**
 * The errors of the functions that mean bad input. Lambda reports a thrown error by its `name`,
 * which ImageMigratorError sets from the class (the functions' bundles keep class names).
 */
const BAD_INPUT_ERRORS: readonly (abstract new (...args: never[]) => ImageMigratorError)[] = [
  ConfigError,
  InvalidReferenceError,
  UnknownRunError,
];

function isBadInput(errorType: string): boolean {
  return BAD_INPUT_ERRORS.some((type) => type.name === errorType);
}
