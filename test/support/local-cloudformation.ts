// What CloudFormation is to a custom resource, locally: DescribeStacks spoken in the query protocol (so that the real
// @aws-sdk/client-cloudformation serializes and parses it), and the presigned ResponseURL that receives the answers.
import { randomUUID } from 'crypto';
import * as http from 'http';
import type { AddressInfo } from 'net';

const NAMESPACE = 'http://cloudformation.amazonaws.com/doc/2010-05-15/';

export interface CfnAnswer {
  /** The path of the ResponseURL it was PUT to. */
  readonly path: string;
  readonly body: any;
}

export interface LocalCloudFormation {
  /** The DescribeStacks endpoint (AWS_ENDPOINT_URL_CLOUDFORMATION). */
  readonly endpoint: string;
  /** StackName (id) of each DescribeStacks received. */
  readonly describeCalls: string[];
  /** Answers PUT to {@link responseUrl}s, in order. */
  readonly answers: CfnAnswer[];
  /** Sets the status DescribeStacks reports for a stack id; undefined: the stack does not exist. */
  setStatus(stackId: string, status: string | undefined): void;
  /** A ResponseURL of this server (a presigned S3 URL in AWS). */
  responseUrl(): string;
  /** Resolves when `count` answers have arrived. */
  waitForAnswers(count: number, timeoutMs?: number): Promise<CfnAnswer[]>;
  stop(): Promise<void>;
}

const xmlEscape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export async function startLocalCloudFormation(): Promise<LocalCloudFormation> {
  const statuses = new Map<string, string>();
  const describeCalls: string[] = [];
  const answers: CfnAnswer[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += String(d); });
    req.on('end', () => {
      if (req.method === 'PUT') {
        answers.push({ path: req.url ?? '', body: JSON.parse(body) });
        res.writeHead(200);
        return res.end();
      }
      const params = new URLSearchParams(body);
      const stackName = params.get('StackName') ?? '';
      const reply = (status: number, xml: string) => {
        res.writeHead(status, { 'content-type': 'text/xml', 'x-amzn-requestid': randomUUID() });
        res.end(xml);
      };
      if (params.get('Action') !== 'DescribeStacks') {
        return reply(400, `<ErrorResponse xmlns="${NAMESPACE}"><Error><Type>Sender</Type><Code>InvalidAction</Code>`
          + '<Message>only DescribeStacks</Message></Error></ErrorResponse>');
      }
      describeCalls.push(stackName);
      const status = statuses.get(stackName);
      if (status === undefined) {
        return reply(400, `<ErrorResponse xmlns="${NAMESPACE}"><Error><Type>Sender</Type><Code>ValidationError</Code>`
          + `<Message>Stack with id ${xmlEscape(stackName)} does not exist</Message></Error></ErrorResponse>`);
      }
      return reply(200, `<DescribeStacksResponse xmlns="${NAMESPACE}"><DescribeStacksResult><Stacks><member>`
        + `<StackId>${xmlEscape(stackName)}</StackId><StackName>${xmlEscape(stackName.split('/')[1] ?? stackName)}</StackName>`
        + `<CreationTime>2036-01-01T00:00:00.000Z</CreationTime><StackStatus>${xmlEscape(status)}</StackStatus>`
        + `</member></Stacks></DescribeStacksResult><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata>`
        + '</DescribeStacksResponse>');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let responses = 0;
  return {
    endpoint: base,
    describeCalls,
    answers,
    setStatus: (stackId, status) => {
      if (status === undefined) statuses.delete(stackId);
      else statuses.set(stackId, status);
    },
    responseUrl: () => `${base}/cloudformation-custom-resource-response/${++responses}?X-Amz-Signature=local`,
    waitForAnswers: async (count, timeoutMs = 10_000) => {
      const deadline = Date.now() + timeoutMs;
      while (answers.length < count) {
        if (Date.now() > deadline) throw new Error(`${answers.length} answers after ${timeoutMs} ms, expected ${count}`);
        await new Promise((r) => setTimeout(r, 10));
      }
      return answers.slice(0, count);
    },
    stop: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
