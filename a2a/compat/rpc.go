package compat

import (
	"maps"
)

// JSON-RPC requests, answers and stream events translated between A2A 1.0
// and 0.3 as JSON, for the relay: it forwards a caller's JSON-RPC without
// decoding it into the SDK's types, so that fields and extensions it does
// not know reach the agent (and the answer the caller) unchanged. a2a-go
// v2.4.0 translates typed values (a2av0's ToV1*/FromV1* converters, inside
// its 0.3 handlers and client transports), and its JSON-RPC codec is
// internal.

// RequestTo03 translates a 1.0 JSON-RPC request (method name and params) into
// the 0.3 request a2a-go understands. A request that already uses a 0.3
// method is returned unchanged.
//
// Errors are *Error values a server can answer with: CodeParseError for
// malformed JSON, CodeInvalidRequest for a non-request, CodeMethodNotFound for
// an unknown method, CodeUnsupportedOperation for ListTasks (no 0.3
// equivalent) and CodeInvalidParams for params that cannot be translated.
func RequestTo03(body []byte) ([]byte, error) {
	req, method, err := parseRequest(body)
	if err != nil {
		return nil, err
	}
	if _, ok := methods03to10[method]; ok {
		return body, nil
	}
	m10 := canonical10(method)
	if methods10Only[m10] {
		return nil, errorf(CodeUnsupportedOperation, "%s has no A2A 0.3 equivalent", method)
	}
	m03, ok := methods10to03[m10]
	if !ok {
		return nil, errorf(CodeMethodNotFound, "method %q not found", method)
	}
	params, err := params10to03(m10, req["params"])
	if err != nil {
		return nil, err
	}
	return renderRequest(req, m03, params)
}

// RequestTo10 translates a 0.3 JSON-RPC request into its 1.0 form, for
// calling an agent that speaks only 1.0. A request that already uses a 1.0
// method is returned unchanged.
func RequestTo10(body []byte) ([]byte, error) {
	req, method, err := parseRequest(body)
	if err != nil {
		return nil, err
	}
	if isMethod10(method) {
		return body, nil
	}
	m10, ok := methods03to10[method]
	if !ok {
		return nil, errorf(CodeMethodNotFound, "method %q not found", method)
	}
	params, err := params03to10(m10, req["params"])
	if err != nil {
		return nil, err
	}
	return renderRequest(req, m10, params)
}

// ResponseTo10 translates a 0.3 JSON-RPC response to a request for method
// (its 1.0 or 0.3 name) into the 1.0 response. For a streaming method it
// translates one stream event, like StreamEventTo10.
func ResponseTo10(method string, body []byte) ([]byte, error) {
	return translateResponse(method, body, V10, false)
}

// ResponseTo03 translates a 1.0 JSON-RPC response to a request for method
// (its 1.0 or 0.3 name) into the 0.3 response.
func ResponseTo03(method string, body []byte) ([]byte, error) {
	return translateResponse(method, body, V03, false)
}

// StreamEventTo10 translates the data of one SSE event of a 0.3 streaming
// response (a JSON-RPC response whose result is a task, message,
// status-update or artifact-update, or an error) into its 1.0 form.
func StreamEventTo10(method string, data []byte) ([]byte, error) {
	return translateResponse(method, data, V10, true)
}

// StreamEventTo03 translates the data of one SSE event of a 1.0 streaming
// response into its 0.3 form.
func StreamEventTo03(method string, data []byte) ([]byte, error) {
	return translateResponse(method, data, V03, true)
}

// ---------------------------------------------------------------- requests

func parseRequest(body []byte) (obj, string, error) {
	v, err := DecodeJSON(body)
	if err != nil {
		return nil, "", errorf(CodeParseError, "invalid JSON: %v", err)
	}
	req, ok := v.(obj)
	if !ok {
		return nil, "", errorf(CodeInvalidRequest, "a JSON-RPC request must be an object")
	}
	method, ok := req["method"].(string)
	if !ok || method == "" {
		return nil, "", errorf(CodeInvalidRequest, "a JSON-RPC request needs a method")
	}
	return req, method, nil
}

func renderRequest(req obj, method string, params any) ([]byte, error) {
	out := maps.Clone(req)
	out["method"] = method
	if params == nil {
		delete(out, "params")
	} else {
		out["params"] = params
	}
	b, err := EncodeJSON(out)
	if err != nil {
		return nil, errorf(CodeInternalError, "encoding the request: %v", err)
	}
	return b, nil
}

// params10to03 translates the params of 1.0 method m (canonical name).
func params10to03(m string, p any) (any, error) {
	if m == "GetExtendedAgentCard" {
		return nil, nil // 0.3 takes no params (1.0 only has "tenant")
	}
	if p == nil {
		p = obj{}
	}
	o, err := asObj(p, "params")
	if err != nil {
		return nil, err
	}
	out := obj{}
	switch m {
	case "SendMessage", "SendStreamingMessage":
		mv, ok := get10(o, "message")
		if !ok {
			return nil, errorf(CodeInvalidParams, "params.message is required")
		}
		if out["message"], err = message10to03(mv, "params.message"); err != nil {
			return nil, err
		}
		if cv, ok := get10(o, "configuration"); ok {
			if out["configuration"], err = sendConfig10to03(cv); err != nil {
				return nil, err
			}
		}
		if err := copyMetadata10(out, o, "params"); err != nil {
			return nil, err
		}
	case "GetTask":
		out["id"] = ""
		copyFields(out, o, get10, "id")
		if h, ok := get10(o, "historyLength"); ok {
			out["historyLength"] = number(h)
		}
	case "CancelTask":
		out["id"] = ""
		copyFields(out, o, get10, "id")
		if err := copyMetadata10(out, o, "params"); err != nil {
			return nil, err
		}
	case "SubscribeToTask":
		out["id"] = ""
		copyFields(out, o, get10, "id")
	case "CreateTaskPushNotificationConfig":
		return taskPushConfig10to03(o, "params")
	case "GetTaskPushNotificationConfig", "DeleteTaskPushNotificationConfig", "ListTaskPushNotificationConfigs":
		if _, ok := o["pushNotificationConfigId"]; ok { // already 0.3
			return o, nil
		}
		out["id"] = ""
		if t, ok := get10(o, "taskId"); ok {
			out["id"] = t
		}
		id, _ := get10(o, "id")
		switch m {
		case "GetTaskPushNotificationConfig":
			if !isEmpty(id) {
				out["pushNotificationConfigId"] = id
			}
		case "DeleteTaskPushNotificationConfig":
			if id == nil {
				id = ""
			}
			out["pushNotificationConfigId"] = id
		}
	}
	return out, nil
}

func sendConfig10to03(v any) (any, error) {
	c, err := asObj(v, "params.configuration")
	if err != nil {
		return nil, err
	}
	out := obj{}
	copyNonEmpty(out, c, get10, "acceptedOutputModes")
	if h, ok := get10(c, "historyLength"); ok {
		out["historyLength"] = number(h)
	}
	if pv, ok := get10(c, "taskPushNotificationConfig"); ok {
		if out["pushNotificationConfig"], err = pushConfig10to03(pv, "params.configuration.taskPushNotificationConfig"); err != nil {
			return nil, err
		}
	}
	ri, _ := get10(c, "returnImmediately")
	out["blocking"] = ri != true
	return out, nil
}

// params03to10 translates the params of the 0.3 method whose 1.0 name is m.
func params03to10(m string, p any) (any, error) {
	if p == nil {
		p = obj{}
	}
	o, err := asObj(p, "params")
	if err != nil {
		return nil, err
	}
	out := obj{}
	switch m {
	case "SendMessage", "SendStreamingMessage":
		mv, ok := get03(o, "message")
		if !ok {
			return nil, errorf(CodeInvalidParams, "params.message is required")
		}
		if out["message"], err = message03to10(mv, "params.message"); err != nil {
			return nil, err
		}
		if cv, ok := get03(o, "configuration"); ok {
			c, err := asObj(cv, "params.configuration")
			if err != nil {
				return nil, err
			}
			cfg := obj{}
			copyNonEmpty(cfg, c, get03, "acceptedOutputModes", "historyLength")
			if pc, ok := get03(c, "pushNotificationConfig"); ok {
				if cfg["taskPushNotificationConfig"], err = pushConfig03to10(pc, nil, "params.configuration.pushNotificationConfig"); err != nil {
					return nil, err
				}
			}
			if c["blocking"] == false {
				cfg["returnImmediately"] = true
			}
			out["configuration"] = cfg
		}
		copyFields(out, o, get03, "metadata")
	case "GetTask":
		copyNonEmpty(out, o, get03, "id")
		copyFields(out, o, get03, "historyLength")
	case "CancelTask":
		copyNonEmpty(out, o, get03, "id")
		copyFields(out, o, get03, "metadata")
	case "SubscribeToTask":
		copyNonEmpty(out, o, get03, "id")
	case "CreateTaskPushNotificationConfig":
		return taskPushConfig03to10(o, "params")
	case "GetTaskPushNotificationConfig", "DeleteTaskPushNotificationConfig", "ListTaskPushNotificationConfigs":
		if t, ok := get03(o, "id"); ok && !isEmpty(t) {
			out["taskId"] = t
		}
		if c, ok := get03(o, "pushNotificationConfigId"); ok && !isEmpty(c) && m != "ListTaskPushNotificationConfigs" {
			out["id"] = c
		}
	case "GetExtendedAgentCard":
		// 1.0 params are {tenant}; 0.3 has none.
	}
	return out, nil
}

// ---------------------------------------------------------------- responses

func translateResponse(method string, body []byte, to Version, event bool) ([]byte, error) {
	m10 := canonical10(method)
	if m10 == "" {
		return nil, errorf(CodeMethodNotFound, "method %q not found", method)
	}
	v, err := DecodeJSON(body)
	if err != nil {
		return nil, errorf(CodeParseError, "invalid JSON in response: %v", err)
	}
	resp, ok := v.(obj)
	if !ok {
		return nil, errorf(CodeInvalidAgentResponse, "a JSON-RPC response must be an object")
	}
	out := maps.Clone(resp)
	if e, ok := resp["error"]; ok && e != nil {
		out["error"] = errorObj(e, to)
	} else if r, ok := resp["result"]; ok {
		if event || streamingMethods[m10] {
			if r != nil {
				if to == V10 {
					r, err = event03to10(r, "result")
				} else {
					r, err = event10to03(r, "result")
				}
			}
		} else if to == V10 {
			r, err = result03to10(m10, r)
		} else {
			r, err = result10to03(m10, r)
		}
		if err != nil {
			e := AsError(err)
			e.Code = CodeInvalidAgentResponse
			return nil, e
		}
		out["result"] = r
	} else if m10 == "DeleteTaskPushNotificationConfig" {
		// Deleting answers nothing; a2a-go (v0.3.15 on) leaves the empty
		// result out altogether. JSON-RPC wants one: null.
		out["result"] = nil
	} else {
		return nil, errorf(CodeInvalidAgentResponse, "a JSON-RPC response needs a result or an error")
	}
	b, err := EncodeJSON(out)
	if err != nil {
		return nil, errorf(CodeInternalError, "encoding the response: %v", err)
	}
	return b, nil
}

func result03to10(m string, r any) (any, error) {
	if r == nil {
		return nil, nil
	}
	switch m {
	case "SendMessage":
		return sendResult03to10(r, "result")
	case "GetTask", "CancelTask":
		return task03to10(r, "result")
	case "CreateTaskPushNotificationConfig", "GetTaskPushNotificationConfig":
		return taskPushConfig03to10(r, "result")
	case "ListTaskPushNotificationConfigs":
		if o, ok := r.(obj); ok { // already 1.0
			return o, nil
		}
		l, err := list(r, "result", taskPushConfig03to10)
		if err != nil {
			return nil, err
		}
		if len(l) == 0 {
			return obj{}, nil
		}
		return obj{"configs": l}, nil
	case "GetExtendedAgentCard":
		c, err := asObj(r, "result")
		if err != nil {
			return nil, err
		}
		return cardTo10(c), nil
	case "ListTasks": // 1.0 only; its tasks may have been rendered in 0.3
		return listTasks(r, task03to10)
	}
	return r, nil // DeleteTaskPushNotificationConfig (null)
}

func listTasks(r any, conv func(any, string) (any, error)) (any, error) {
	o, err := asObj(r, "result")
	if err != nil {
		return nil, err
	}
	out := maps.Clone(o)
	if tv, ok := get10(o, "tasks"); ok {
		if out["tasks"], err = list(tv, "result.tasks", conv); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func result10to03(m string, r any) (any, error) {
	if r == nil {
		return nil, nil
	}
	switch m {
	case "SendMessage":
		return sendResult10to03(r, "result")
	case "GetTask", "CancelTask":
		return task10to03(r, "result")
	case "CreateTaskPushNotificationConfig", "GetTaskPushNotificationConfig":
		return taskPushConfig10to03(r, "result")
	case "ListTaskPushNotificationConfigs":
		if l, ok := r.([]any); ok { // already 0.3
			return l, nil
		}
		o, err := asObj(r, "result")
		if err != nil {
			return nil, err
		}
		cv, _ := get10(o, "configs")
		l, err := list(cv, "result.configs", taskPushConfig10to03)
		if err != nil {
			return nil, err
		}
		return l, nil // nextPageToken has no 0.3 field
	case "GetExtendedAgentCard":
		c, err := asObj(r, "result")
		if err != nil {
			return nil, err
		}
		return cardTo03(c), nil
	case "ListTasks": // no 0.3 caller asks for it; translate the tasks anyway
		return listTasks(r, task10to03)
	}
	return r, nil
}
