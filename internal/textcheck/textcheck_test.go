package textcheck_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/parleyhq/parley/internal/textcheck"
)

func TestLineAndText(t *testing.T) {
	tests := []struct {
		name       string
		s          string
		wantLine   string // "" accepted; else a substring of the error
		wantText   string
		wantOffset int
	}{
		{"plain", "Charged twice, refund $500", "", "", 0},
		{"empty", "", "", "", 0},
		{"non-Latin", "Двойное списание — 返金 ✓ 🙂", "", "", 0},
		{"literal replacement character", "a\uFFFDb", "", "", 0},
		{"implicit bidi marks", "abc\u200Fdef\u200E", "", "", 0},
		{"tab", "a\tb", "control character (U+0009)", "", 1},
		{"newline", "a\nb", "control character (U+000A)", "", 1},
		{"CRLF", "a\r\nb", "control character (U+000D)", "", 1},
		{"lone CR", "refund 5\r9999", "control character (U+000D)", "carriage return not followed by a line feed (U+000D) at byte 8", 8},
		{"CR at the end", "a\r", "control character", "carriage return", 1},
		{"NUL", "a\x00b", "control character (U+0000) at byte 1", "control character (U+0000) at byte 1", 1},
		{"ESC sequence", "ok \x1b[2Jgone", "U+001B", "U+001B", 3},
		{"DEL", "a\x7f", "U+007F", "U+007F", 1},
		{"C1 control", "a\u0085b", "U+0085", "U+0085", 1},
		{"right-to-left override", "refund \u202E005", "bidirectional control character (U+202E)", "U+202E", 7},
		{"left-to-right embedding", "\u202Aa", "U+202A", "U+202A", 0},
		{"first strong isolate", "a\u2068b\u2069", "U+2068", "U+2068", 1},
		{"pop directional isolate", "a\u2069", "U+2069", "U+2069", 1},
		{"tag characters", "hi\U000E0049\U000E0067", "tag character (U+E0049)", "U+E0049", 2},
		{"invalid UTF-8", "ab\xff", "not valid UTF-8 at byte 2", "not valid UTF-8 at byte 2", 2},
		{"truncated sequence", "a\xe2\x82", "not valid UTF-8 at byte 1", "not valid UTF-8", 1},
		{"encoded surrogate", "a\xed\xa0\x80", "not valid UTF-8", "not valid UTF-8", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, c := range []struct {
				kind  string
				check func(string) error
				want  string
			}{{"Line", textcheck.Line, tt.wantLine}, {"Text", textcheck.Text, tt.wantText}} {
				err := c.check(tt.s)
				switch {
				case c.want == "" && err != nil:
					t.Errorf("%s(%q) = %v, want accepted", c.kind, tt.s, err)
				case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
					t.Errorf("%s(%q) = %v, want an error with %q", c.kind, tt.s, err, c.want)
				case err != nil:
					var te *textcheck.Error
					if !errors.As(err, &te) || te.Offset != tt.wantOffset {
						t.Errorf("%s(%q) = %#v, want a *textcheck.Error at offset %d", c.kind, tt.s, err, tt.wantOffset)
					}
				}
			}
		})
	}
}

func TestJSON(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want string // "" accepted; else the whole error text
	}{
		{"object", `{"a": "x", "b": [1, "y\nz", {"c": null}], "d": true}`, ""},
		{"scalar", `"just text"`, ""},
		{"escaped replacement character", `{"a": "\ufffd and \uFFFD"}`, ""},
		{"literal replacement character", "{\"a\": \"\uFFFD\"}", ""},
		{"surrogate pair", `{"a": "\ud83d\ude00"}`, ""},
		{"escaped ESC", `{"note": "\u001b[31mred"}`, "note: has a control character (U+001B) at byte 0; tabs and line breaks are the only control characters allowed"},
		{"NUL in an array", `{"items": ["ok", "a\u0000"]}`, "items[1]: has a control character (U+0000) at byte 1; tabs and line breaks are the only control characters allowed"},
		{"override in a nested value", `{"a": {"b": [{"c": "x\u202ey"}]}}`, "a.b[0].c: has a bidirectional control character (U+202E) at byte 1; it makes text display in another order than it reads"},
		{"control character in a key", `{"a\nb": 1}`, "a\nb: has a control character (U+000A) at byte 1; no control characters are allowed here"},
		{"invalid UTF-8", "{\"a\": [\"ok\", \"b\xffc\"]}", "a[1]: is not valid UTF-8"},
		{"invalid UTF-8 in a key", "{\"k\xff\": 1}", "k\uFFFD: is not valid UTF-8"},
		{"unpaired surrogate", `{"a": "x\ud800y"}`, "a: is not valid UTF-16 (an unpaired surrogate escape)"},
		{"unpaired surrogate beside an escaped U+FFFD", `{"a": "\ufffd\udc00"}`, "a: is not valid UTF-16 (an unpaired surrogate escape)"},
		{"top-level string", `"a\u202e"`, "has a bidirectional control character (U+202E) at byte 1; it makes text display in another order than it reads"},
		{"after a nested object", `{"a": {"b": 1}, "c": "\u0007"}`, "c: has a control character (U+0007) at byte 0; tabs and line breaks are the only control characters allowed"},
		{"after a nested array", `[[1, 2], "\u0007"]`, "[1]: has a control character (U+0007) at byte 0; tabs and line breaks are the only control characters allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := textcheck.JSON([]byte(tt.doc))
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("JSON(%s) = %q, want %q", tt.doc, got, tt.want)
			}
		})
	}
}

func TestWalkPaths(t *testing.T) {
	var got []string
	err := textcheck.Walk([]byte(`{"a": 1, "b": {"c": [true, {"d": null}], "e": "x"}, "f": [[2], 3]}`), func(tok textcheck.Token) error {
		if tok.Key {
			got = append(got, "key "+tok.Path)
		} else {
			got = append(got, tok.Path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"key a", "a", "key b", "key b.c", "b.c[0]", "key b.c[1].d", "b.c[1].d", "key b.e", "b.e", "key f", "f[0][0]", "f[1]"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("paths\n got %q\nwant %q", got, want)
	}
}

// FuzzText: the checks never panic; what Text accepts is valid UTF-8 with
// no control character but tab, LF and the CR of a CRLF, and no bidi
// control or tag character; what Line accepts, Text accepts; a refusal
// points at a character of the text.
func FuzzText(f *testing.F) {
	for _, s := range []string{"", "plain", "a\r\nb", "a\rb", "\x1b[0m", "\u202e", "\xff", "\U000E0041", "\uFFFD", "a\tb\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		textErr := textcheck.Text(s)
		lineErr := textcheck.Line(s)
		if lineErr == nil && textErr != nil {
			t.Fatalf("Line accepts %q but Text refuses it: %v", s, textErr)
		}
		for _, err := range []error{textErr, lineErr} {
			var te *textcheck.Error
			if err != nil && (!errors.As(err, &te) || te.Offset < 0 || te.Offset >= len(s)) {
				t.Fatalf("%q: error %#v does not point into the text", s, err)
			}
		}
		if esc := textcheck.Escape(s); textcheck.Text(esc) != nil {
			t.Fatalf("Escape(%q) = %q, which Text refuses: %v", s, esc, textcheck.Text(esc))
		}
		if textErr != nil {
			return
		}
		if !utf8.ValidString(s) {
			t.Fatalf("Text accepts invalid UTF-8 %q", s)
		}
		for i, r := range s {
			bad := r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r >= 0x7f && r <= 0x9f ||
				r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 || r >= 0xe0000 && r <= 0xe007f ||
				r == '\r' && (i+1 == len(s) || s[i+1] != '\n')
			if bad {
				t.Fatalf("Text accepts %q with U+%04X at %d", s, r, i)
			}
		}
	})
}

// FuzzJSON: JSON never panics, and on a valid document it agrees with
// checking each decoded string on its own.
func FuzzJSON(f *testing.F) {
	for _, s := range []string{`{"a":"b"}`, `["\u202e"]`, `{"a":{"b":[1,"\u0000"]}}`, "{\"a\":\"\xff\"}", `"\ud800"`, `{"k\n":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		err := textcheck.JSON(doc)
		if !json.Valid(doc) || !utf8.Valid(doc) {
			return
		}
		var v any
		if json.Unmarshal(doc, &v) != nil {
			return
		}
		if err == nil {
			walkStrings(v, func(s string, key bool) {
				check := textcheck.Text
				if key {
					check = textcheck.Line
				}
				if cerr := check(s); cerr != nil {
					t.Fatalf("JSON accepts %s, but %q: %v", doc, s, cerr)
				}
			})
		}
	})
}

func walkStrings(v any, f func(s string, key bool)) {
	switch v := v.(type) {
	case string:
		f(v, false)
	case []any:
		for _, e := range v {
			walkStrings(e, f)
		}
	case map[string]any:
		for k, e := range v {
			f(k, true)
			walkStrings(e, f)
		}
	}
}

func TestEscape(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain\ttext\r\nok", "plain\ttext\r\nok"},
		{"a\u202eb", `a\u202eb`},
		{"a\x1b[0m", `a\u001b[0m`},
		{"a\rb", `a\u000db`},
		{"a\xffb", `a\xffb`},
		{"\U000E0041", `\ue0041`},
	}
	for _, tt := range tests {
		if got := textcheck.Escape(tt.in); got != tt.want {
			t.Errorf("Escape(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
