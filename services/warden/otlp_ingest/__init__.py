"""otlp-ingest: agent runs from programs that already trace them, as OTLP/HTTP traces of OpenTelemetry GenAI spans.

spans.py decodes an export (protobuf or JSON) into plain Span records, semconv.py names the GenAI
attributes of the one semantic-conventions version implemented, processor.py is the pure step from
spans to AgentEvents and refusals, service.py the thin HTTP shell that produces them.
"""
