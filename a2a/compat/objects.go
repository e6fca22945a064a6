package compat

import (
	"encoding/json"
	"fmt"
	"maps"
	"strconv"
)

// Object-level translations. Functions named x10to03 take a decoded 1.0
// (proto-JSON) value and return the 0.3 value; x03to10 the reverse. 0.3 output
// always carries the fields 0.3 marks required (with zero values if need be);
// 1.0 output leaves out default values, as proto-JSON does.
//
// They work on decoded JSON (maps), not on a2a-go's types as a2av0's
// ToV1*/FromV1* converters do, so that members neither SDK knows (metadata
// in any shape, extension fields) are carried over: see rpc.go.

// ---------------------------------------------------------------- enums

func enum10(tbl []enumValue, v any) (enumValue, bool) {
	switch x := v.(type) {
	case string:
		for _, e := range tbl {
			if x == e.v10 || (x != "" && x == e.v03) {
				return e, true
			}
		}
	case json.Number:
		if n, err := x.Int64(); err == nil {
			for _, e := range tbl {
				if int64(e.num) == n {
					return e, true
				}
			}
		}
	case float64:
		for _, e := range tbl {
			if float64(e.num) == x {
				return e, true
			}
		}
	}
	return enumValue{}, false
}

func enum03(tbl []enumValue, v any) (enumValue, bool) {
	s, ok := v.(string)
	if !ok {
		return enumValue{}, false
	}
	for _, e := range tbl {
		if s == e.v03 || s == e.v10 {
			return e, true
		}
	}
	return enumValue{}, false
}

// ---------------------------------------------------------------- metadata

// metadata returns o's "metadata" if present; 0.3 needs it to be an object.
func metadata(o obj, get getter, path string) (obj, bool, error) {
	v, ok := get(o, "metadata")
	if !ok {
		return nil, false, nil
	}
	m, ok := v.(obj)
	if !ok {
		return nil, false, errorf(CodeInvalidParams, "%s.metadata must be an object", path)
	}
	return m, true, nil
}

// copyMetadata10 copies a 1.0 object's metadata to its 0.3 rendering.
func copyMetadata10(out, o obj, path string) error {
	m, ok, err := metadata(o, get10, path)
	if ok {
		out["metadata"] = m
	}
	return err
}

// ---------------------------------------------------------------- parts

func part10to03(v any, path string) (any, error) {
	o, err := asObj(v, path)
	if err != nil {
		return nil, err
	}
	if _, ok := o["kind"]; ok { // already a 0.3 part: accept it as is
		return o, nil
	}
	meta, hasMeta, err := metadata(o, get10, path)
	if err != nil {
		return nil, err
	}
	out := obj{}
	content := ""
	for _, f := range partOneof10 {
		if _, ok := o[f]; ok && (o[f] != nil || f == "data") {
			content = f
			break
		}
	}
	switch content {
	case "text":
		s, ok := asString(o["text"])
		if !ok {
			return nil, errorf(CodeInvalidParams, "%s.text must be a string", path)
		}
		out["kind"], out["text"] = "text", s
	case "raw", "url":
		s, ok := asString(o[content])
		if !ok {
			return nil, errorf(CodeInvalidParams, "%s.%s must be a string", path, content)
		}
		file := obj{}
		if content == "raw" {
			file["bytes"] = s
		} else {
			file["uri"] = s
		}
		if n, ok := get10(o, "filename"); ok && !isEmpty(n) {
			file["name"] = n
		}
		if m, ok := get10(o, "mediaType"); ok && !isEmpty(m) {
			file["mimeType"] = m
		}
		out["kind"], out["file"] = "file", file
	case "data":
		d := o["data"]
		if m, ok := d.(obj); ok {
			out["kind"], out["data"] = "data", m
		} else {
			out["kind"], out["data"] = "data", obj{"value": d}
			meta = maps.Clone(meta)
			if meta == nil {
				meta = obj{}
			}
			meta[dataPartCompatFlag] = true
			hasMeta = true
		}
	default:
		return nil, errorf(CodeInvalidParams, "%s has no content (text, raw, url or data)", path)
	}
	if hasMeta {
		out["metadata"] = meta
	}
	return out, nil
}

func part03to10(v any, path string) (any, error) {
	o, err := asObj(v, path)
	if err != nil {
		return nil, err
	}
	meta, hasMeta, err := metadata(o, get03, path)
	if err != nil {
		return nil, err
	}
	out := obj{}
	kind, _ := o["kind"].(string)
	switch kind {
	case "":
		for _, f := range partOneof10 { // no kind: already a 1.0 part
			if _, ok := o[f]; ok {
				return o, nil
			}
		}
		return nil, errorf(CodeInvalidParams, "%s has no kind", path)
	case "text":
		s, ok := asString(o["text"])
		if !ok {
			return nil, errorf(CodeInvalidParams, "%s.text must be a string", path)
		}
		out["text"] = s
	case "file":
		f, err := asObj(o["file"], path+".file")
		if err != nil {
			return nil, err
		}
		if b, ok := get03(f, "bytes"); ok {
			out["raw"] = b
		} else if u, ok := get03(f, "uri"); ok {
			out["url"] = u
		} else {
			return nil, errorf(CodeInvalidParams, "%s.file has neither bytes nor uri", path)
		}
		if n, ok := get03(f, "name"); ok && !isEmpty(n) {
			out["filename"] = n
		}
		if m, ok := get03(f, "mimeType"); ok && !isEmpty(m) {
			out["mediaType"] = m
		}
	case "data":
		d, ok := o["data"]
		if !ok {
			return nil, errorf(CodeInvalidParams, "%s.data is missing", path)
		}
		if hasMeta && meta[dataPartCompatFlag] == true {
			if w, ok := d.(obj); ok {
				if inner, ok := w["value"]; ok {
					d = inner
				}
			}
			meta = maps.Clone(meta)
			delete(meta, dataPartCompatFlag)
			hasMeta = len(meta) > 0
		}
		out["data"] = d
	default:
		return nil, errorf(CodeInvalidParams, "%s has unknown kind %q", path, kind)
	}
	if hasMeta {
		out["metadata"] = meta
	}
	return out, nil
}

// list converts each element of a JSON array (nil stays an empty list).
func list(v any, path string, conv func(any, string) (any, error)) ([]any, error) {
	l, err := asList(v, path)
	if err != nil {
		return nil, err
	}
	out := make([]any, 0, len(l))
	for i, p := range l {
		q, err := conv(p, fmt.Sprintf("%s[%d]", path, i))
		if err != nil {
			return nil, err
		}
		out = append(out, q)
	}
	return out, nil
}

// ---------------------------------------------------------------- messages

func message10to03(v any, path string) (any, error) {
	o, err := asObj(v, path)
	if err != nil {
		return nil, err
	}
	out := obj{"kind": "message", "messageId": ""}
	copyFields(out, o, get10, "messageId")
	copyNonEmpty(out, o, get10, "contextId", "taskId", "extensions", "referenceTaskIds")
	if r, ok := get10(o, "role"); ok {
		e, ok := enum10(roles[:], r)
		if !ok {
			return nil, errorf(CodeInvalidParams, "%s.role: unknown role %v", path, r)
		}
		if e.v03 != "" {
			out["role"] = e.v03
		}
	}
	pv, _ := get10(o, "parts")
	if out["parts"], err = list(pv, path+".parts", part10to03); err != nil {
		return nil, err
	}
	if err := copyMetadata10(out, o, path); err != nil {
		return nil, err
	}
	return out, nil
}

func message03to10(v any, path string) (any, error) {
	o, err := asObj(v, path)
	if err != nil {
		return nil, err
	}
	out := obj{}
	copyNonEmpty(out, o, get03, "messageId", "contextId", "taskId", "extensions", "referenceTaskIds")
	if r, ok := get03(o, "role"); ok && r != "" {
		e, ok := enum03(roles[:], r)
		if !ok {
			return nil, errorf(CodeInvalidParams, "%s.role: unknown role %v", path, r)
		}
		if e.num != 0 {
			out["role"] = e.v10
		}
	}
	pv, _ := get03(o, "parts")
	ps, err := list(pv, path+".parts", part03to10)
	if err != nil {
		return nil, err
	}
	if len(ps) > 0 {
		out["parts"] = ps
	}
	copyFields(out, o, get03, "metadata")
	return out, nil
}

// ---------------------------------------------------------------- tasks

func status10to03(v any, path string) (any, error) {
	out := obj{"state": "unknown"}
	if v == nil {
		return out, nil
	}
	o, err := asObj(v, path)
	if err != nil {
		return nil, err
	}
	if s, ok := get10(o, "state"); ok {
		e, ok := enum10(taskStates[:], s)
		if !ok {
			return nil, errorf(CodeInvalidParams, "%s.state: unknown task state %v", path, s)
		}
		out["state"] = e.v03
	}
	if m, ok := get10(o, "message"); ok {
		if out["message"], err = message10to03(m, path+".message"); err != nil {
			return nil, err
		}
	}
	copyNonEmpty(out, o, get10, "timestamp")
	return out, nil
}

func status03to10(v any, path string) (any, error) {
	out := obj{}
	if v == nil {
		return out, nil
	}
	o, err := asObj(v, path)
	if err != nil {
		return nil, err
	}
	if s, ok := get03(o, "state"); ok && s != "" {
		e, ok := enum03(taskStates[:], s)
		if !ok {
			return nil, errorf(CodeInvalidParams, "%s.state: unknown task state %v", path, s)
		}
		if e.num != 0 {
			out["state"] = e.v10
		}
	}
	if m, ok := get03(o, "message"); ok {
		if out["message"], err = message03to10(m, path+".message"); err != nil {
			return nil, err
		}
	}
	copyNonEmpty(out, o, get03, "timestamp")
	return out, nil
}

func artifact10to03(v any, path string) (any, error) {
	o, err := asObj(v, path)
	if err != nil {
		return nil, err
	}
	out := obj{"artifactId": ""}
	copyFields(out, o, get10, "artifactId")
	copyNonEmpty(out, o, get10, "name", "description", "extensions")
	pv, _ := get10(o, "parts")
	if out["parts"], err = list(pv, path+".parts", part10to03); err != nil {
		return nil, err
	}
	if err := copyMetadata10(out, o, path); err != nil {
		return nil, err
	}
	return out, nil
}

func artifact03to10(v any, path string) (any, error) {
	o, err := asObj(v, path)
	if err != nil {
		return nil, err
	}
	out := obj{}
	copyNonEmpty(out, o, get03, "artifactId", "name", "description", "extensions")
	pv, _ := get03(o, "parts")
	ps, err := list(pv, path+".parts", part03to10)
	if err != nil {
		return nil, err
	}
	if len(ps) > 0 {
		out["parts"] = ps
	}
	copyFields(out, o, get03, "metadata")
	return out, nil
}

func task10to03(v any, path string) (any, error) {
	o, err := asObj(v, path)
	if err != nil {
		return nil, err
	}
	out := obj{"kind": "task", "id": "", "contextId": ""}
	copyFields(out, o, get10, "id", "contextId")
	sv, _ := get10(o, "status")
	if out["status"], err = status10to03(sv, path+".status"); err != nil {
		return nil, err
	}
	for _, f := range [...]struct {
		name string
		conv func(any, string) (any, error)
	}{{"artifacts", artifact10to03}, {"history", message10to03}} {
		if lv, ok := get10(o, f.name); ok {
			l, err := list(lv, path+"."+f.name, f.conv)
			if err != nil {
				return nil, err
			}
			if len(l) > 0 {
				out[f.name] = l
			}
		}
	}
	if err := copyMetadata10(out, o, path); err != nil {
		return nil, err
	}
	return out, nil
}

func task03to10(v any, path string) (any, error) {
	o, err := asObj(v, path)
	if err != nil {
		return nil, err
	}
	out := obj{}
	copyNonEmpty(out, o, get03, "id", "contextId")
	sv, _ := get03(o, "status")
	if out["status"], err = status03to10(sv, path+".status"); err != nil {
		return nil, err
	}
	for _, f := range [...]struct {
		name string
		conv func(any, string) (any, error)
	}{{"artifacts", artifact03to10}, {"history", message03to10}} {
		if lv, ok := get03(o, f.name); ok {
			l, err := list(lv, path+"."+f.name, f.conv)
			if err != nil {
				return nil, err
			}
			if len(l) > 0 {
				out[f.name] = l
			}
		}
	}
	copyFields(out, o, get03, "metadata")
	return out, nil
}

// ---------------------------------------------------------------- stream events

func statusUpdate10to03(v any, path string) (any, error) {
	o, err := asObj(v, path)
	if err != nil {
		return nil, err
	}
	out := obj{"kind": "status-update", "taskId": "", "contextId": ""}
	copyFields(out, o, get10, "taskId", "contextId")
	sv, _ := get10(o, "status")
	st, err := status10to03(sv, path+".status")
	if err != nil {
		return nil, err
	}
	out["status"] = st
	state, _ := st.(obj)["state"].(string)
	out["final"] = finalStates03[state]
	if err := copyMetadata10(out, o, path); err != nil {
		return nil, err
	}
	return out, nil
}

func statusUpdate03to10(v any, path string) (any, error) {
	o, err := asObj(v, path)
	if err != nil {
		return nil, err
	}
	out := obj{}
	copyNonEmpty(out, o, get03, "taskId", "contextId")
	sv, _ := get03(o, "status")
	if out["status"], err = status03to10(sv, path+".status"); err != nil {
		return nil, err
	}
	copyFields(out, o, get03, "metadata")
	return out, nil
}

func artifactUpdate10to03(v any, path string) (any, error) {
	o, err := asObj(v, path)
	if err != nil {
		return nil, err
	}
	out := obj{"kind": "artifact-update", "taskId": "", "contextId": ""}
	copyFields(out, o, get10, "taskId", "contextId", "append", "lastChunk")
	if err := copyMetadata10(out, o, path); err != nil {
		return nil, err
	}
	av, ok := get10(o, "artifact")
	if !ok {
		return nil, errorf(CodeInvalidParams, "%s.artifact is missing", path)
	}
	if out["artifact"], err = artifact10to03(av, path+".artifact"); err != nil {
		return nil, err
	}
	return out, nil
}

func artifactUpdate03to10(v any, path string) (any, error) {
	o, err := asObj(v, path)
	if err != nil {
		return nil, err
	}
	out := obj{}
	copyNonEmpty(out, o, get03, "taskId", "contextId", "append", "lastChunk")
	copyFields(out, o, get03, "metadata")
	av, ok := get03(o, "artifact")
	if !ok {
		return nil, errorf(CodeInvalidParams, "%s.artifact is missing", path)
	}
	if out["artifact"], err = artifact03to10(av, path+".artifact"); err != nil {
		return nil, err
	}
	return out, nil
}

var (
	eventConv10to03 = map[string]func(any, string) (any, error){
		"task": task10to03, "message": message10to03,
		"statusUpdate": statusUpdate10to03, "artifactUpdate": artifactUpdate10to03,
	}
	eventConv03to10 = map[string]func(any, string) (any, error){
		"task": task03to10, "message": message03to10,
		"status-update": statusUpdate03to10, "artifact-update": artifactUpdate03to10,
	}
)

// event10to03 turns a 1.0 StreamResponse ({"task":…}, {"statusUpdate":…}, …)
// into a 0.3 event (an object with "kind").
func event10to03(v any, path string) (any, error) {
	o, err := asObj(v, path)
	if err != nil {
		return nil, err
	}
	if _, ok := o["kind"]; ok { // already 0.3
		return o, nil
	}
	for _, e := range streamEvents {
		if inner, ok := get10(o, e.v10); ok {
			return eventConv10to03[e.v10](inner, path+"."+e.v10)
		}
	}
	return nil, errorf(CodeInvalidParams, "%s is not a stream event (task, message, statusUpdate or artifactUpdate)", path)
}

// event03to10 turns a 0.3 event into a 1.0 StreamResponse.
func event03to10(v any, path string) (any, error) {
	o, err := asObj(v, path)
	if err != nil {
		return nil, err
	}
	kind, _ := o["kind"].(string)
	for _, e := range streamEvents {
		if kind == e.v03 {
			inner, err := eventConv03to10[e.v03](o, path)
			if err != nil {
				return nil, err
			}
			return obj{e.v10: inner}, nil
		}
	}
	if kind == "" {
		for _, e := range streamEvents { // already 1.0
			if _, ok := o[e.v10]; ok {
				return o, nil
			}
		}
	}
	return nil, errorf(CodeInvalidParams, "%s has unknown event kind %q", path, kind)
}

// sendResult10to03 unwraps a 1.0 SendMessageResponse ({"task":…} or
// {"message":…}) into a 0.3 message/send result.
func sendResult10to03(v any, path string) (any, error) {
	o, err := asObj(v, path)
	if err != nil {
		return nil, err
	}
	switch {
	case o["kind"] != nil:
		return o, nil
	case o["task"] != nil:
		return task10to03(o["task"], path+".task")
	case o["message"] != nil:
		return message10to03(o["message"], path+".message")
	case o["status"] != nil: // a bare task
		return task10to03(o, path)
	case o["messageId"] != nil || o["message_id"] != nil: // a bare message
		return message10to03(o, path)
	}
	return nil, errorf(CodeInvalidParams, "%s is neither a task nor a message", path)
}

func sendResult03to10(v any, path string) (any, error) {
	o, err := asObj(v, path)
	if err != nil {
		return nil, err
	}
	switch o["kind"] {
	case "task":
		t, err := task03to10(o, path)
		return obj{"task": t}, err
	case "message":
		m, err := message03to10(o, path)
		return obj{"message": m}, err
	case nil:
		if o["task"] != nil || o["message"] != nil { // already 1.0
			return o, nil
		}
	}
	return nil, errorf(CodeInvalidParams, "%s is neither a task nor a message", path)
}

// ---------------------------------------------------------------- push configs

// pushConfig10to03 turns a 1.0 TaskPushNotificationConfig (flat) into a 0.3
// PushNotificationConfig.
func pushConfig10to03(v any, path string) (any, error) {
	o, err := asObj(v, path)
	if err != nil {
		return nil, err
	}
	out := obj{"url": ""}
	copyFields(out, o, get10, "url")
	copyNonEmpty(out, o, get10, "id", "token")
	if av, ok := get10(o, "authentication"); ok {
		a, err := asObj(av, path+".authentication")
		if err != nil {
			return nil, err
		}
		auth := obj{"schemes": []any{}}
		if s, ok := get10(a, "scheme"); ok && !isEmpty(s) {
			auth["schemes"] = []any{s}
		}
		copyNonEmpty(auth, a, get10, "credentials")
		out["authentication"] = auth
	}
	return out, nil
}

// pushConfig03to10 turns a 0.3 PushNotificationConfig into a 1.0 (flat)
// TaskPushNotificationConfig for taskID.
func pushConfig03to10(v any, taskID any, path string) (obj, error) {
	o, err := asObj(v, path)
	if err != nil {
		return nil, err
	}
	out := obj{}
	if !isEmpty(taskID) {
		out["taskId"] = taskID
	}
	copyNonEmpty(out, o, get03, "id", "url", "token")
	if av, ok := get03(o, "authentication"); ok {
		a, err := asObj(av, path+".authentication")
		if err != nil {
			return nil, err
		}
		auth := obj{}
		schemes, err := asList(a["schemes"], path+".authentication.schemes")
		if err != nil {
			return nil, err
		}
		if len(schemes) > 0 && !isEmpty(schemes[0]) { // 1.0 keeps one scheme
			auth["scheme"] = schemes[0]
		}
		copyNonEmpty(auth, a, get03, "credentials")
		out["authentication"] = auth
	}
	return out, nil
}

// taskPushConfig10to03 turns a 1.0 TaskPushNotificationConfig into a 0.3
// TaskPushNotificationConfig ({taskId, pushNotificationConfig}).
func taskPushConfig10to03(v any, path string) (any, error) {
	o, err := asObj(v, path)
	if err != nil {
		return nil, err
	}
	if _, ok := o["pushNotificationConfig"]; ok { // already 0.3
		return o, nil
	}
	pc, err := pushConfig10to03(o, path)
	if err != nil {
		return nil, err
	}
	out := obj{"taskId": "", "pushNotificationConfig": pc}
	copyFields(out, o, get10, "taskId")
	return out, nil
}

func taskPushConfig03to10(v any, path string) (any, error) {
	o, err := asObj(v, path)
	if err != nil {
		return nil, err
	}
	pc, ok := get03(o, "pushNotificationConfig")
	if !ok {
		if _, flat := o["url"]; flat { // already 1.0
			return o, nil
		}
		return nil, errorf(CodeInvalidParams, "%s.pushNotificationConfig is missing", path)
	}
	return pushConfig03to10(pc, o["taskId"], path+".pushNotificationConfig")
}

// ---------------------------------------------------------------- errors

// errorData03to10 turns 0.3 error data (an object, as a2a-go writes
// {"error": "detail"}) into 1.0 error data: a list of google.rpc details with
// an ErrorInfo whose metadata holds the 0.3 fields. Codes without an A2A
// reason keep their data as is.
func errorData03to10(code int, data any) any {
	reason, ok := errorReasons[code]
	if !ok {
		return data
	}
	if l, ok := data.([]any); ok { // already 1.0
		return l
	}
	info := obj{"@type": errorInfoType, "reason": reason, "domain": errorInfoDomain}
	switch d := data.(type) {
	case nil:
	case obj:
		if len(d) > 0 {
			md := obj{}
			for k, v := range d {
				md[k] = metadataString(v)
			}
			info["metadata"] = md
		}
	default:
		info["metadata"] = obj{"value": metadataString(d)}
	}
	return []any{info}
}

// metadataString renders v for google.rpc.ErrorInfo metadata, a string map.
func metadataString(v any) any {
	if s, ok := v.(string); ok {
		return s
	}
	b, err := EncodeJSON(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// errorData10to03 turns 1.0 error data into an object, the only shape a2a-go
// can decode: the metadata of the ErrorInfo that merely restates the code is
// inlined, any other detail goes under "details".
func errorData10to03(code int, data any) any {
	switch d := data.(type) {
	case nil, obj:
		return d
	case []any:
		out := obj{}
		var details []any
		for _, el := range d {
			if info, ok := el.(obj); ok && info["@type"] == errorInfoType &&
				info["reason"] == errorReasons[code] && info["domain"] == errorInfoDomain {
				if md, ok := info["metadata"].(obj); ok {
					for k, v := range md {
						out[k] = v
					}
				}
				continue
			}
			details = append(details, el)
		}
		if len(details) > 0 {
			out["details"] = details
		}
		if len(out) == 0 {
			return nil
		}
		return out
	default:
		return obj{"value": d}
	}
}

func codeOf(e obj) int {
	switch c := e["code"].(type) {
	case json.Number:
		if n, err := strconv.Atoi(c.String()); err == nil {
			return n
		}
	case float64:
		return int(c)
	case int:
		return c
	}
	return 0
}

func errorObj(v any, to Version) any {
	e, ok := v.(obj)
	if !ok {
		return v
	}
	out := maps.Clone(e)
	var data any
	if to == V10 {
		data = errorData03to10(codeOf(e), e["data"])
	} else {
		data = errorData10to03(codeOf(e), e["data"])
	}
	if data == nil {
		delete(out, "data")
	} else {
		out["data"] = data
	}
	return out
}
