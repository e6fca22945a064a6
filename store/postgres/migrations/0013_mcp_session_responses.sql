-- Clients' responses to server-to-client requests of a session (elicitation,
-- sampling) that reached a replica whose copy of the session did not send
-- the request (store.MCPSessionResponses). rpc_id is the JSON-RPC id as
-- compact JSON text; body the response message; at Unix microseconds. A
-- session's responses go with it.
CREATE TABLE mcp_session_responses (
	session_id TEXT NOT NULL REFERENCES mcp_sessions (id) ON DELETE CASCADE,
	rpc_id     TEXT NOT NULL,
	body       TEXT NOT NULL,
	at         BIGINT NOT NULL,
	PRIMARY KEY (session_id, rpc_id)
);

-- The sweep of responses nobody took.
CREATE INDEX mcp_session_responses_at ON mcp_session_responses (at);
