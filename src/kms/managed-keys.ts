import { UniqueViolation } from '../store/database.ts';
import type { KeyRecord, KeyStore } from './keys.ts';

const DESCRIPTIONS: Record<string, string> = {
  s3: 'Default key that protects my S3 objects when no other key is defined',
  secretsmanager: 'Default key that protects my Secrets Manager data when no other key is defined',
  ssm: 'Default key that protects my SSM parameters when no other key is defined',
  rekognition: 'Default key that protects my Rekognition collections when no other key is defined',
};

function managedPolicy(accountId: string, service: string, region: string): string {
  return JSON.stringify(
    {
      Version: '2012-10-17',
      Id: `auto-${service}`,
      Statement: [
        {
          Sid: `Allow access through ${service} for all principals in the account that are authorized to use ${service}`,
          Effect: 'Allow',
          Principal: { AWS: '*' },
          Action: ['kms:Encrypt', 'kms:Decrypt', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:DescribeKey'],
          Resource: '*',
          Condition: { StringEquals: { 'kms:CallerAccount': accountId, 'kms:ViaService': `${service}.${region}.amazonaws.com` } },
        },
        {
          Sid: 'Allow direct access to key metadata to the account',
          Effect: 'Allow',
          Principal: { AWS: `arn:aws:iam::${accountId}:root` },
          Action: ['kms:Describe*', 'kms:Get*', 'kms:List*'],
          Resource: '*',
        },
      ],
    },
    null,
    2,
  );
}

/**
 * The AWS managed key of a service (alias/aws/s3, aws/secretsmanager, aws/ssm, aws/rekognition),
 * created the first time the service needs it, as on AWS: KeyManager AWS, rotated every year, its
 * policy and rotation not changeable by customers. Concurrent first uses create exactly one key.
 */
export async function awsManagedKey(keys: KeyStore, service: keyof typeof DESCRIPTIONS, now = Date.now()): Promise<KeyRecord> {
  const alias = `alias/aws/${service}`;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await keys.db.transaction(async (tx) => {
        const row = await tx.get<{ target_key_id: string }>('SELECT target_key_id FROM kms_aliases WHERE account_id = ? AND region = ? AND alias_name = ?', [
          keys.accountId,
          keys.region,
          alias,
        ]);
        if (row) return (await keys.get(row.target_key_id, tx))!;
        const key = await keys.create(tx, {
          description: DESCRIPTIONS[service]!,
          keyUsage: 'ENCRYPT_DECRYPT',
          keySpec: 'SYMMETRIC_DEFAULT',
          origin: 'AWS_KMS',
          keyManager: 'AWS',
          policy: managedPolicy(keys.accountId, service, keys.region),
          now,
          rotationPeriodDays: 365,
        });
        await tx.run('INSERT INTO kms_aliases (account_id, region, alias_name, target_key_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)', [
          keys.accountId,
          keys.region,
          alias,
          key.keyId,
          now,
          now,
        ]);
        return key;
      });
    } catch (err) {
      keys.invalidate();
      if (!(err instanceof UniqueViolation)) throw err;
    }
  }
  throw new Error(`could not create or find ${alias}`);
}
