import type { GetCallerIdentityResponse } from '@aws-sdk/client-sts';
import type { CallContext, QueryService } from '../server/service.ts';

async function getCallerIdentity(ctx: CallContext): Promise<Required<Pick<GetCallerIdentityResponse, 'Arn' | 'UserId' | 'Account'>>> {
  const p = ctx.principal;
  return { Arn: p.arn, UserId: p.principalId, Account: p.accountId };
}

/** AWS STS (awsQuery). AssumeRole and temporary credentials arrive with the access-control work. */
export const stsService: QueryService = {
  protocol: 'query',
  signingName: 'sts',
  eventSource: 'sts.amazonaws.com',
  xmlns: 'https://sts.amazonaws.com/doc/2011-06-15/',
  version: '2011-06-15',
  maxBodyBytes: 64 * 1024,
  operations: {
    GetCallerIdentity: async (ctx) => getCallerIdentity(ctx),
  },
};
