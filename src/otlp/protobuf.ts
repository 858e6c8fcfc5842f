import protobuf from 'protobufjs';
import generatedRoot from '@opentelemetry/otlp-transformer/build/src/generated/root';

/**
 * The OTLP messages as protobuf.js code generated from the official opentelemetry-proto definitions, as
 * @opentelemetry/otlp-transformer 0.214.0 ships it (its last release that still carries the generated
 * decoders; later ones serialise by hand and no longer decode requests). Pinned for that reason.
 */
interface MessageType {
  decode(reader: Uint8Array): unknown;
  encode(message: object): protobuf.Writer;
}

interface OtlpRoot {
  opentelemetry: {
    proto: {
      collector: {
        logs: { v1: { ExportLogsServiceRequest: MessageType; ExportLogsServiceResponse: MessageType } };
        metrics: { v1: { ExportMetricsServiceRequest: MessageType; ExportMetricsServiceResponse: MessageType } };
      };
    };
  };
}

const collector = (generatedRoot as unknown as OtlpRoot).opentelemetry.proto.collector;
export const ExportLogsServiceRequest = collector.logs.v1.ExportLogsServiceRequest;
export const ExportLogsServiceResponse = collector.logs.v1.ExportLogsServiceResponse;
export const ExportMetricsServiceRequest = collector.metrics.v1.ExportMetricsServiceRequest;
export const ExportMetricsServiceResponse = collector.metrics.v1.ExportMetricsServiceResponse;

// `google.rpc.Status`, the body of an OTLP/HTTP error. Its third field (`details`, repeated Any) is left out:
// nothing is ever put there, and a message without it encodes the same.
const Status = new protobuf.Type('Status').add(new protobuf.Field('code', 1, 'int32')).add(new protobuf.Field('message', 2, 'string'));
new protobuf.Root().define('google.rpc').add(Status);

/** A `google.rpc.Status` in protobuf. */
export function encodeStatus(code: number, message: string): Uint8Array {
  return Status.encode({ code, message }).finish();
}
