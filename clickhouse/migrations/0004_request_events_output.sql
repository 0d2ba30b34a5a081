-- What the model answered, so a request can be inspected next to its timing (RequestEvent.output in the API):
-- the output text, tool calls as JSON, and the error message of a failed request (never credentials).
-- Output is capped at 64 KiB per request by the engine; ZSTD(3) because text compresses well.
ALTER TABLE request_events ADD COLUMN IF NOT EXISTS output String DEFAULT '' CODEC(ZSTD(3)) AFTER finish_reason;
ALTER TABLE request_events ADD COLUMN IF NOT EXISTS tool_calls String DEFAULT '' CODEC(ZSTD(3)) AFTER output;
ALTER TABLE request_events ADD COLUMN IF NOT EXISTS error_message String DEFAULT '' CODEC(ZSTD(3)) AFTER tool_calls;
