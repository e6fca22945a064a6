package observe

import "go.opentelemetry.io/otel/attribute"

// Span attribute keys that spans of several packages carry (OpenTelemetry
// semantic conventions, and the A2A ones Parley uses on the A2A face and
// its client alike). Keys only one package uses stay in it.
const (
	AttrErrorType     = attribute.Key("error.type")
	AttrRPCSystem     = attribute.Key("rpc.system.name")
	AttrRPCMethod     = attribute.Key("rpc.method")
	AttrA2ATaskID     = attribute.Key("a2a.task.id")
	AttrA2AContextID  = attribute.Key("a2a.context.id")
	RPCSystemA2A      = "a2a"
	ErrorTypeFallback = "_OTHER" // error.type when no better one is known
)
