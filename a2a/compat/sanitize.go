package compat

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Bounding and rewording the error texts sent to callers. a2a-go v2.4.0
// sends an error's message as it is (err.Error(), with whatever a task
// store or encoding/json put in it: a 100 KB ID echoed whole, Go's type
// names), so the gateway's own face, the agent pool and the relay pass
// theirs through SafeErrorText, and ErrorResponse applies it to every
// error this package renders.

// What an error sent to a caller may echo of what the caller sent: a task
// id of 100 KB comes back as its first MaxEchoRunes characters and "…".
const (
	// MaxEchoRunes bounds one word of an error message (an id, a URL, a
	// blob): longer ones are cut, with "…".
	MaxEchoRunes = 64
	// MaxErrorRunes bounds a whole error message.
	MaxErrorRunes = 512
)

// SafeErrorText makes an error message fit to send to a caller: every word
// (a run of non-space characters) longer than MaxEchoRunes is cut to that
// with "…", the whole to MaxErrorRunes; invalid UTF-8 and control
// characters are replaced; and encoding/json's messages, which name Go
// types ("cannot unmarshal number into Go struct field TaskQueryParams.id
// of type a2a.TaskID"), are said in JSON's terms ("params.id: a JSON
// number is not allowed here"). ErrorResponse applies it to every JSON-RPC
// error it renders, and the gateway's own A2A face, the agent pool and the
// relay to the texts they pass on, so that errors are bounded in one
// place.
func SafeErrorText(s string) string {
	s = rewordJSONErrors(s)
	var b strings.Builder
	total, word := 0, 0
	cut := false
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		s = s[size:]
		switch {
		case r == utf8.RuneError && size <= 1:
			r = '\uFFFD'
		case r == '\n' || r == '\t':
			r = ' '
		case unicode.IsControl(r) || isBidiControl(r):
			r = '\uFFFD'
		}
		if r == ' ' {
			word, cut = 0, false
		} else {
			word++
		}
		if cut {
			continue
		}
		if word > MaxEchoRunes {
			b.WriteRune('…')
			total++
			cut = true
			continue
		}
		if total >= MaxErrorRunes {
			b.WriteRune('…')
			break
		}
		b.WriteRune(r)
		total++
	}
	return b.String()
}

func isBidiControl(r rune) bool {
	return (r >= '\u202A' && r <= '\u202E') || (r >= '\u2066' && r <= '\u2069') || r == '\u200E' || r == '\u200F' || r == '\u061C'
}

var (
	// json: cannot unmarshal number into Go struct field TaskQueryParams.id of type a2a.TaskID
	jsonFieldError = regexp.MustCompile(`json: cannot unmarshal (\w+) into Go struct field ([\w.\[\]]+) of type [^\s:,;]+`)
	// json: cannot unmarshal array into Go value of type a2a.MessageSendParams
	jsonValueError = regexp.MustCompile(`json: cannot unmarshal (\w+) into Go value of type [^\s:,;]+`)
	// a type name left in another message: *a2a.Task, a2a.TaskID, []a2a.Part
	goTypeName = regexp.MustCompile(`(^|[\s(])(?:\[\])?\*?(?:a2a|a2apb|jsonrpc|json|http|url|net|syscall|store|compat|agentcards)\.[A-Z]\w*`)
)

// rewordJSONErrors says encoding/json's type errors in JSON's terms.
func rewordJSONErrors(s string) string {
	if !strings.Contains(s, "Go ") && !strings.Contains(s, ".") {
		return s
	}
	s = jsonFieldError.ReplaceAllStringFunc(s, func(m string) string {
		sub := jsonFieldError.FindStringSubmatch(m)
		field := sub[2]
		// The first element is the Go struct the params decode into.
		if _, rest, ok := strings.Cut(field, "."); ok {
			field = rest
		}
		return "params." + field + ": a JSON " + sub[1] + " is not allowed here"
	})
	s = jsonValueError.ReplaceAllString(s, "a JSON $1 is not allowed here")
	return goTypeName.ReplaceAllString(s, "${1}a value")
}

// sanitizeErrorObject applies SafeErrorText to an error object's message
// and to every string in its data.
func sanitizeErrorObject(e obj) {
	if m, ok := e["message"].(string); ok {
		e["message"] = SafeErrorText(m)
	}
	if d, ok := e["data"]; ok {
		e["data"] = sanitizeStrings(d)
	}
}

func sanitizeStrings(v any) any {
	switch v := v.(type) {
	case string:
		return SafeErrorText(v)
	case obj:
		for k, x := range v {
			v[k] = sanitizeStrings(x)
		}
	case []any:
		for i, x := range v {
			v[i] = sanitizeStrings(x)
		}
	}
	return v
}
