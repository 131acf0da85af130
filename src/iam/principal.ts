/** The authenticated caller, in CloudTrail's userIdentity vocabulary. */
export interface Principal {
  type: 'IAMUser' | 'AssumedRole' | 'Root';
  accountId: string;
  arn: string;
  /** AIDA... for users (GetCallerIdentity's UserId). */
  principalId: string;
  userName?: string;
  accessKeyId: string;
}
