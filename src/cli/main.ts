import { VERSION } from './version.ts';

// Usage texts are repeated here so that `trent env` and `trent help` load nothing heavy.
const SERVE_USAGE = `trent serve [--data-dir DIR] [--host HOST] [--port N] [--region REGION]
            [--tls-cert FILE --tls-key FILE [--tls-ca FILE]] [--tls-san NAME]... [--root-passphrase-file FILE]
  (trent serve --help lists every option)`;
const ROOT_USAGE = `trent root migrate --data-dir DIR --to pkcs11 --pkcs11-module PATH --pkcs11-token LABEL --pkcs11-pin-file FILE
  moves the root key from the key file into an HSM, re-wrapping every key (resumable)`;
const TRAIL_USAGE = `trent trail deliver [--data-dir DIR]
  delivers trail log files and writes digests now (server running or not)
trent trail validate --trail NAME|ARN [--start-time TIME] [--data-dir DIR]
  checks a trail's digest chain and log files offline`;
const ADMIN_USAGE = `trent admin COMMAND [--data-dir DIR] [--option value ...]
  IAM administration without the AWS CLI (create-user, create-access-key, put-user-policy, create-role, ...)`;
const SECRETS_USAGE = `trent secrets register-rotation-function --name NAME (--command PATH [--role ROLE_ARN] | --url URL)
  registers a rotation function (no Lambda) for Secrets Manager's RotateSecret`;
const ENV_USAGE = `trent env [--data-dir DIR] [--endpoint URL]
  prints export lines for the AWS CLI, boto3 and the JS SDK: eval "$(npx trent env)"
trent aws [--data-dir DIR] COMMAND ...
  runs the installed AWS CLI with the endpoint, CA bundle and credentials filled in: npx trent aws kms list-keys`;

const USAGE = `Trent ${VERSION}: a self-hosted, AWS-compatible trust service

${SERVE_USAGE}

${ENV_USAGE}

${ROOT_USAGE}

${TRAIL_USAGE}

${ADMIN_USAGE}

${SECRETS_USAGE}

trent status | stop | logs [-f] [--data-dir DIR]
  is a server running here, and where; stop it; print or follow its log

trent version`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'serve':
        return await (await import('./serve.ts')).serve(rest);
      case 'env':
        return await (await import('./env.ts')).env(rest);
      case 'aws':
        return await (await import('./aws.ts')).aws(rest);
      case 'root':
        return await (await import('./root.ts')).root(rest);
      case 'secrets':
        return await (await import('./secrets.ts')).secrets(rest);
      case 'admin':
        return await (await import('./admin.ts')).admin(rest);
      case 'trail':
        return await (await import('./trail.ts')).trail(rest);
      case 'status':
        return await (await import('./ops.ts')).status(rest);
      case 'stop':
        return await (await import('./ops.ts')).stop(rest);
      case 'logs':
        return await (await import('./ops.ts')).logs(rest);
      case 'version':
      case '--version':
        process.stdout.write(`${VERSION}\n`);
        return 0;
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(USAGE + '\n');
        return command === undefined ? 2 : 0;
      default:
        process.stderr.write(`trent: unknown command '${command}'\n\n${USAGE}\n`);
        return 2;
    }
  } catch (err) {
    process.stderr.write(`trent ${command}: ${(err as Error).message}\n`);
    return 1;
  }
}
