// Package textcheck decides whether text that came from outside may be
// stored and shown: to people in logs and UIs, and to models that read
// tickets and agent cards (where hidden or reordered characters are a
// prompt-injection surface). It is the one rule for every package that
// accepts text: the workspace's tickets, analyses and tasks, and the
// registry's agent cards.
//
// Refused everywhere: invalid UTF-8; control characters (C0, DEL, C1);
// bidirectional embeddings, overrides and isolates (U+202A–U+202E,
// U+2066–U+2069), which make text display in another order than it reads;
// and Unicode tag characters (U+E0000–U+E007F), which are invisible yet
// read by models. Multi-line text may also hold tabs and line breaks (LF,
// and CR only as part of CRLF: a lone CR rewinds a terminal line and hides
// what came before it).
package textcheck

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Error says which character of a text is refused and why.
type Error struct {
	// Offset is where in the text, in bytes from 0; -1 when unknown.
	Offset int
	// Rune is the refused character; utf8.RuneError for invalid UTF-8.
	Rune   rune
	Reason string
	// Hint, if set, says what is allowed instead.
	Hint string
}

func (e *Error) Error() string {
	msg := e.Reason
	if e.Rune != utf8.RuneError {
		msg = fmt.Sprintf("has %s (U+%04X)", e.Reason, e.Rune)
	}
	if e.Offset >= 0 {
		msg += fmt.Sprintf(" at byte %d", e.Offset)
	}
	if e.Hint != "" {
		msg += "; " + e.Hint
	}
	return msg
}

// Reasons, as Error.Reason carries them.
const (
	ReasonInvalidUTF8 = "is not valid UTF-8"
	ReasonControl     = "a control character"
	ReasonLoneCR      = "a carriage return not followed by a line feed"
	ReasonBidi        = "a bidirectional control character"
	ReasonTag         = "an invisible Unicode tag character"
)

// Line checks a one-line value such as a name, an ID or a tag: no control
// characters at all.
func Line(s string) error { return check(s, false) }

// Text checks free text such as a summary or a note: tabs and line breaks
// are allowed.
func Text(s string) error { return check(s, true) }

func check(s string, multiline bool) error {
	for i, r := range s {
		switch {
		case r == utf8.RuneError:
			if _, size := utf8.DecodeRuneInString(s[i:]); size <= 1 {
				return &Error{Offset: i, Rune: utf8.RuneError, Reason: ReasonInvalidUTF8}
			}
			// A literal U+FFFD is a character like any other.
		case multiline && (r == '\t' || r == '\n'):
		case multiline && r == '\r':
			if i+1 >= len(s) || s[i+1] != '\n' {
				return &Error{Offset: i, Rune: r, Reason: ReasonLoneCR, Hint: "end lines with LF or CRLF"}
			}
		case unicode.IsControl(r):
			hint := "no control characters are allowed here"
			if multiline {
				hint = "tabs and line breaks are the only control characters allowed"
			}
			return &Error{Offset: i, Rune: r, Reason: ReasonControl, Hint: hint}
		case isBidiControl(r):
			return &Error{Offset: i, Rune: r, Reason: ReasonBidi, Hint: "it makes text display in another order than it reads"}
		case r >= 0xE0000 && r <= 0xE007F:
			return &Error{Offset: i, Rune: r, Reason: ReasonTag, Hint: "it is invisible to people but read by models"}
		}
	}
	return nil
}

// isBidiControl reports the explicit directional embeddings, overrides
// and isolates: LRE, RLE, PDF, LRO, RLO and LRI, RLI, FSI, PDI. The
// implicit marks (LRM, RLM, ALM) only nudge neutral characters and are
// needed in mixed-direction text, so they stay.
func isBidiControl(r rune) bool {
	return r >= 0x202A && r <= 0x202E || r >= 0x2066 && r <= 0x2069
}

// Escape returns s with what Text refuses written as escapes (\u202e,
// \x1b, \xff), for text Parley composes from others' words, such as an
// error an agent returned, where refusing would lose the whole message.
// Escape(s) always passes Text.
func Escape(s string) string {
	if Text(s) == nil {
		return s
	}
	var b strings.Builder
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[0])
		case Text(s[:size]) != nil && !(r == '\r' && len(s) > 1 && s[1] == '\n'):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[:size])
		}
		s = s[size:]
	}
	return b.String()
}
