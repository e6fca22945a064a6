package textcheck

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// ReasonSurrogate is Error.Reason for a \uD800–\uDFFF escape without its
// pair, which JSON decoders replace with U+FFFD.
const ReasonSurrogate = "is not valid UTF-16 (an unpaired surrogate escape)"

// PathError names where in a JSON document a value was refused: Path is
// like "items[2].note", empty for the document itself.
type PathError struct {
	Path string
	Err  error
}

func (e *PathError) Error() string {
	if e.Path == "" {
		return e.Err.Error()
	}
	return e.Path + ": " + e.Err.Error()
}

func (e *PathError) Unwrap() error { return e.Err }

// Token is one scalar of a JSON document, as Walk visits it.
type Token struct {
	// Path locates it: "a.b[2]"; a key's path is the path of its value.
	Path string
	// Key is true for an object key (then Value is the key).
	Key bool
	// Value is a string, json.Number, bool or nil.
	Value json.Token
	// Raw is the document's bytes the token was decoded from (with any
	// separators before it).
	Raw []byte
}

// Walk visits every key and scalar of a JSON document in order, and
// returns the first error visit returns, wrapped in a *PathError. It does
// not validate the document beyond what decoding its tokens needs; a
// syntax error is returned as is.
func Walk(doc []byte, visit func(Token) error) error {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var stack []*frame
	for {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		raw := doc[start:dec.InputOffset()]
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.wantKey {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:len(stack)-1]
				endValue(stack)
				continue
			}
			key, _ := tok.(string)
			top.key, top.wantKey = key, false
			if err := visit(Token{Path: join(top.path, key), Key: true, Value: tok, Raw: raw}); err != nil {
				return &PathError{Path: join(top.path, key), Err: err}
			}
			continue
		}
		path := ""
		switch {
		case top != nil && top.object:
			path = join(top.path, top.key)
		case top != nil:
			path = fmt.Sprintf("%s[%d]", top.path, top.index)
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				stack = append(stack, &frame{object: d == '{', wantKey: d == '{', path: path})
			default: // ']' (an object's '}' comes where a key would)
				stack = stack[:len(stack)-1]
				endValue(stack)
			}
			continue
		}
		if err := visit(Token{Path: path, Value: tok, Raw: raw}); err != nil {
			return &PathError{Path: path, Err: err}
		}
		endValue(stack)
	}
}

// frame is an object or array Walk is inside.
type frame struct {
	object  bool
	wantKey bool   // objects: the next token is a key (or the end)
	key     string // objects: the current member's key
	index   int    // arrays: the current element's index
	path    string // the container's own path
}

// endValue moves the innermost container past the value that just ended.
func endValue(stack []*frame) {
	if len(stack) == 0 {
		return
	}
	top := stack[len(stack)-1]
	if top.object {
		top.wantKey = true
	} else {
		top.index++
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// Intact reports whether s is what raw, the JSON text of a string, says
// without loss: decoders silently turn invalid UTF-8 and unpaired
// surrogate escapes into U+FFFD, so a U+FFFD in s that raw does not spell
// out (literally or as \ufffd) was made up by the decoder.
func Intact(raw []byte, s string) error {
	if !utf8.Valid(raw) {
		return &Error{Offset: -1, Rune: utf8.RuneError, Reason: ReasonInvalidUTF8}
	}
	made := strings.Count(s, "\uFFFD")
	if made == 0 {
		return nil
	}
	spelled := bytes.Count(raw, []byte("\uFFFD")) + bytes.Count(bytes.ToLower(raw), []byte(`\ufffd`))
	if made > spelled {
		return &Error{Offset: -1, Rune: utf8.RuneError, Reason: ReasonSurrogate}
	}
	return nil
}

// JSON checks every string of a JSON document: keys as Line, values as
// Text, and neither altered by decoding (Intact). The error is a
// *PathError naming the value.
func JSON(doc []byte) error {
	return Walk(doc, func(t Token) error {
		s, ok := t.Value.(string)
		if !ok {
			return nil
		}
		if err := Intact(t.Raw, s); err != nil {
			return err
		}
		if t.Key {
			return Line(s)
		}
		return Text(s)
	})
}
