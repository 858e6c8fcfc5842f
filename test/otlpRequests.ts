import root from '@opentelemetry/otlp-transformer/build/src/generated/root';

/** A log record as a test writes it: its body (the event name), attributes, and time. */
export interface TestRecord {
  body?: string;
  attributes: Record<string, string | number | boolean>;
  timeMs?: number;
}

const anyValue = (value: string | number | boolean) =>
  typeof value === 'string'
    ? { stringValue: value }
    : typeof value === 'boolean'
      ? { boolValue: value }
      : Number.isInteger(value)
        ? { intValue: String(value) }
        : { doubleValue: value };

/** An ExportLogsServiceRequest in OTLP/JSON form, as Claude Code sends it (one resource, one scope). */
export function logsRequest(records: TestRecord[]): object {
  // One clock reading per request: the same record twice must be the same bytes twice, even across a millisecond tick.
  const sentAtMs = Date.now();
  return {
    resourceLogs: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'claude-code' } }] },
        scopeLogs: [
          {
            scope: { name: 'com.anthropic.claude_code.events', version: '2.1.328' },
            logRecords: records.map((record) => ({
              timeUnixNano: String(BigInt(record.timeMs ?? sentAtMs) * 1_000_000n),
              body: { stringValue: record.body ?? 'claude_code.api_request' },
              attributes: Object.entries(record.attributes).map(([key, value]) => ({ key, value: anyValue(value) })),
            })),
          },
        ],
      },
    ],
  };
}

type Generated = {
  opentelemetry: {
    proto: {
      collector: {
        logs: { v1: Record<'ExportLogsServiceRequest' | 'ExportLogsServiceResponse', ProtoType> };
        metrics: { v1: Record<'ExportMetricsServiceRequest' | 'ExportMetricsServiceResponse', ProtoType> };
      };
    };
  };
};
interface ProtoType {
  fromObject(object: object): object;
  encode(message: object): { finish(): Uint8Array };
  decode(bytes: Uint8Array): object;
  toObject(message: object, options?: object): any;
}
export const protos = (root as unknown as Generated).opentelemetry.proto.collector;

/** The same request in protobuf, encoded by the generated OTLP code. */
export function logsRequestProtobuf(records: TestRecord[]): Buffer {
  const type = protos.logs.v1.ExportLogsServiceRequest;
  return Buffer.from(type.encode(type.fromObject(logsRequest(records))).finish());
}

/** An api_request record of a session, with the counts Claude Code reports (as strings, as it sends them). */
export function apiRequest(sessionId: string, promptId: string | undefined, usage: Partial<Record<string, string | number>> = {}): TestRecord {
  return {
    attributes: {
      'session.id': sessionId,
      ...(promptId ? { 'prompt.id': promptId } : {}),
      'event.name': 'api_request',
      'event.timestamp': new Date().toISOString(),
      model: 'claude-sonnet-4-5',
      input_tokens: '10',
      output_tokens: '20',
      cache_read_tokens: '30',
      cache_creation_tokens: '40',
      cost_usd: '0.0015',
      cost_usd_micros: '1500',
      duration_ms: '250',
      ...(usage as Record<string, string | number>),
      // Distinct records even with equal counts, as Claude Code's sequence makes them.
      'event.sequence': Math.floor(Math.random() * 1e9),
    },
  };
}
