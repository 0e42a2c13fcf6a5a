import type { APIGatewayProxyEvent } from 'aws-lambda';

/**
 * Who made a request, for records such as a cancel: the IAM identity API Gateway verified for an
 * IAM route (its ARN; else its user id or access key), or 'unknown' when the event carries none.
 */
export function callerIdentity(event: Pick<APIGatewayProxyEvent, 'requestContext'>): string {
  const id = event.requestContext?.identity;
  return id?.userArn || id?.caller || id?.user || id?.accessKey || 'unknown';
}
