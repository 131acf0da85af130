/** The authenticated caller, in CloudTrail's userIdentity vocabulary. */
export interface Principal {
  type: 'IAMUser' | 'AssumedRole' | 'Root';
  accountId: string;
  arn: string;
  /** AIDA... for users (GetCallerIdentity's UserId). */
  principalId: string;
  userName?: string;
  accessKeyId: string;
  /** Assumed roles: the role's ARN and id, and the session name. */
  roleArn?: string;
  roleId?: string;
  sessionName?: string;
  /** Temporary credentials: when they were issued (aws:TokenIssueTime), in milliseconds since the epoch. */
  tokenIssuedAt?: number;
}
