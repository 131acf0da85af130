import assert from 'node:assert/strict';
import { exec } from './assert.ts';
import type { RunningTrent } from './trent.ts';

/**
 * A boto3 client `s3` (path style, one attempt, short timeouts) and `call(fn, **kw)`, which answers {'ok': result}
 * or {'code', 'status', 'message', 'headers'} for a service error, or {'exception': name} for anything else.
 */
const PRELUDE = String.raw`
import base64, datetime, hashlib, json, os, sys, time, boto3, botocore
from botocore.config import Config
s3 = boto3.client('s3', config=Config(s3={'addressing_style': 'path'}, retries={'total_max_attempts': 1}, connect_timeout=5, read_timeout=30))
bucket = os.environ.get('BUCKET', '')
def call(fn, **kw):
    try:
        r = fn(**kw)
        r.pop('ResponseMetadata', None)
        if 'Body' in r: r['Body'] = r['Body'].read().decode('latin1')
        return {'ok': json.loads(json.dumps(r, default=str))}
    except botocore.exceptions.ClientError as e:
        meta = e.response['ResponseMetadata']
        return {'code': e.response['Error'].get('Code'), 'status': meta['HTTPStatusCode'], 'message': e.response['Error'].get('Message'), 'headers': meta.get('HTTPHeaders', {})}
    except Exception as e:
        return {'exception': type(e).__name__, 'message': str(e)}
`;

export type Json = Record<string, unknown>;

/** Run a boto3 script (after the prelude) that prints one JSON document. */
export async function boto3(t: RunningTrent, script: string, env: Record<string, string> = {}): Promise<Json> {
  const r = await exec('python3', ['-c', PRELUDE + script], { ...t.cliEnv(), ...env }, 120_000);
  assert.equal(r.code, 0, `the boto3 script failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as Json;
}
