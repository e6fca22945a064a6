package compat

// The mapping tables between A2A 1.0 and A2A 0.3, all in one place. They were
// read off @a2a-js/sdk 1.3.0 (its proto-JSON serializers and its own v0.3
// compat layer) and a2a-go v0.3.3, and checked against the wire examples in
// testdata/wire. a2a-go v2.4.0 keeps the same mappings inside a2av0 (for its
// types, and its method names unexported); these serve the JSON
// translation in rpc.go and objects.go.

// methodPairs maps each 1.0 JSON-RPC method to its 0.3 equivalent.
var methodPairs = [...]struct{ v10, v03 string }{
	{"SendMessage", "message/send"},
	{"SendStreamingMessage", "message/stream"},
	{"GetTask", "tasks/get"},
	{"CancelTask", "tasks/cancel"},
	{"SubscribeToTask", "tasks/resubscribe"},
	{"CreateTaskPushNotificationConfig", "tasks/pushNotificationConfig/set"},
	{"GetTaskPushNotificationConfig", "tasks/pushNotificationConfig/get"},
	{"ListTaskPushNotificationConfigs", "tasks/pushNotificationConfig/list"},
	{"DeleteTaskPushNotificationConfig", "tasks/pushNotificationConfig/delete"},
	{"GetExtendedAgentCard", "agent/getAuthenticatedExtendedCard"},
}

// methods10Only are 1.0 methods without a 0.3 equivalent.
var methods10Only = map[string]bool{"ListTasks": true}

// methodAliases10 are spellings of 1.0 methods seen outside JSON-RPC (the
// gRPC name) that are accepted on input.
var methodAliases10 = map[string]string{
	"ListTaskPushNotificationConfig": "ListTaskPushNotificationConfigs",
}

// streaming methods answer with text/event-stream.
var streamingMethods = map[string]bool{
	"SendStreamingMessage": true, "SubscribeToTask": true,
	"message/stream": true, "tasks/resubscribe": true,
}

var (
	methods10to03 = map[string]string{}
	methods03to10 = map[string]string{}
)

func init() {
	for _, p := range methodPairs {
		methods10to03[p.v10] = p.v03
		methods03to10[p.v03] = p.v10
	}
}

// isMethod10 reports whether m is a 1.0 method name (or an accepted alias).
func isMethod10(m string) bool {
	_, ok := methods10to03[m]
	return ok || methods10Only[m] || methodAliases10[m] != ""
}

// canonical10 returns the 1.0 method name for a 1.0 or 0.3 method name, or "".
func canonical10(m string) string {
	if a := methodAliases10[m]; a != "" {
		return a
	}
	if _, ok := methods10to03[m]; ok || methods10Only[m] {
		return m
	}
	return methods03to10[m]
}

// Method10 returns the 1.0 name of a 0.3 or 1.0 method name ("" if unknown).
func Method10(m string) string { return canonical10(m) }

// Method03 returns the 0.3 name of a 0.3 or 1.0 method name ("" if unknown or
// without a 0.3 equivalent).
func Method03(m string) string {
	if _, ok := methods03to10[m]; ok {
		return m
	}
	return methods10to03[canonical10(m)]
}

// IsStreaming reports whether a method (either version) answers with SSE.
func IsStreaming(method string) bool { return streamingMethods[method] }

// enumValue is one value of a proto enum: its 1.0 name, its number (proto-JSON
// parsers accept numbers too) and its 0.3 spelling.
type enumValue struct {
	v10 string
	num int
	v03 string
}

// roles: 1.0 Role ↔ 0.3 message role.
var roles = [...]enumValue{
	{"ROLE_UNSPECIFIED", 0, ""},
	{"ROLE_USER", 1, "user"},
	{"ROLE_AGENT", 2, "agent"},
}

// taskStates: 1.0 TaskState ↔ 0.3 task state.
var taskStates = [...]enumValue{
	{"TASK_STATE_UNSPECIFIED", 0, "unknown"},
	{"TASK_STATE_SUBMITTED", 1, "submitted"},
	{"TASK_STATE_WORKING", 2, "working"},
	{"TASK_STATE_COMPLETED", 3, "completed"},
	{"TASK_STATE_FAILED", 4, "failed"},
	{"TASK_STATE_CANCELED", 5, "canceled"},
	{"TASK_STATE_INPUT_REQUIRED", 6, "input-required"},
	{"TASK_STATE_REJECTED", 7, "rejected"},
	{"TASK_STATE_AUTH_REQUIRED", 8, "auth-required"},
}

// finalStates03 are the 0.3 states after which a stream ends: the terminal
// ones and the interrupted ones (a 1.0 server closes the stream on both). They
// decide the 0.3 "final" flag of a translated status-update.
var finalStates03 = map[string]bool{
	"completed": true, "failed": true, "canceled": true, "rejected": true,
	"input-required": true, "auth-required": true,
}

// Parts. A 1.0 Part is a proto oneof with shared fields:
//
//	1.0 {"text": s}                            ↔ 0.3 {"kind":"text","text": s}
//	1.0 {"data": v}                            ↔ 0.3 {"kind":"data","data": v}   (v an object)
//	1.0 {"data": v}                            ↔ 0.3 {"kind":"data","data":{"value": v},"metadata":{"data_part_compat":true}} (v not an object)
//	1.0 {"url": u, "filename": n, "mediaType": m} ↔ 0.3 {"kind":"file","file":{"uri": u,"name": n,"mimeType": m}}
//	1.0 {"raw": b64, "filename": n, "mediaType": m} ↔ 0.3 {"kind":"file","file":{"bytes": b64,"name": n,"mimeType": m}}
//	"metadata" is the same on both sides.
const dataPartCompatFlag = "data_part_compat"

// partOneof10 lists the 1.0 Part content fields in the order a 1.0 parser
// tries them.
var partOneof10 = [...]string{"text", "raw", "url", "data"}

// streamEvents: 1.0 StreamResponse oneof field ↔ 0.3 event "kind".
var streamEvents = [...]struct{ v10, v03 string }{
	{"task", "task"},
	{"message", "message"},
	{"statusUpdate", "status-update"},
	{"artifactUpdate", "artifact-update"},
}

// errorReasons: A2A error code → google.rpc.ErrorInfo reason used by 1.0.
var errorReasons = map[int]string{
	CodeTaskNotFound:                 "TASK_NOT_FOUND",
	CodeTaskNotCancelable:            "TASK_NOT_CANCELABLE",
	CodePushNotificationNotSupported: "PUSH_NOTIFICATION_NOT_SUPPORTED",
	CodeUnsupportedOperation:         "UNSUPPORTED_OPERATION",
	CodeContentTypeNotSupported:      "CONTENT_TYPE_NOT_SUPPORTED",
	CodeInvalidAgentResponse:         "INVALID_AGENT_RESPONSE",
	CodeExtendedCardNotConfigured:    "EXTENDED_AGENT_CARD_NOT_CONFIGURED",
	CodeExtensionSupportRequired:     "EXTENSION_SUPPORT_REQUIRED",
	CodeVersionNotSupported:          "VERSION_NOT_SUPPORTED",
	CodeInvalidParams:                "INVALID_PARAMS",
}

const (
	errorInfoType   = "type.googleapis.com/google.rpc.ErrorInfo"
	errorInfoDomain = "a2a-protocol.org"
)

// securitySchemes: 0.3 OpenAPI-style "type" ↔ 1.0 SecurityScheme oneof field.
// Field renames inside a scheme are listed in schemeFieldRenames.
var securitySchemes = [...]struct{ v03, v10 string }{
	{"apiKey", "apiKeySecurityScheme"},
	{"http", "httpAuthSecurityScheme"},
	{"oauth2", "oauth2SecurityScheme"},
	{"openIdConnect", "openIdConnectSecurityScheme"},
	{"mutualTLS", "mtlsSecurityScheme"},
}

// schemeFieldRenames: per 0.3 scheme type, 0.3 field → 1.0 field.
var schemeFieldRenames = map[string]map[string]string{
	"apiKey": {"in": "location"},
}

// oauthFlows in the order a 1.0 parser tries them (1.0 OAuthFlows is a
// oneof; 0.3 may list several flows, of which the first present is kept).
var oauthFlows = [...]string{"authorizationCode", "clientCredentials", "implicit", "password", "deviceCode"}

// Transport bindings are spelled the same in both versions: 0.3
// preferredTransport / additionalInterfaces[].transport and 1.0
// supportedInterfaces[].protocolBinding.
const (
	BindingJSONRPC  = "JSONRPC"
	BindingGRPC     = "GRPC"
	BindingHTTPJSON = "HTTP+JSON"
)
