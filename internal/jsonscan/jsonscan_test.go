package jsonscan_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/parleyhq/parley/internal/jsonscan"
)

func TestValueEnd(t *testing.T) {
	tests := []struct {
		in   string
		at   int
		want int
	}{
		{`"a\"b" x`, 0, 6},
		{`{"a":[1,"]"],"b":{}} x`, 0, 20},
		{`[1,[2,[3]]]`, 0, 11},
		{`-12.5e3,`, 0, 7},
		{`true}`, 0, 4},
		{` null`, 1, 5},
		{`"open`, 0, -1},
		{`{"a":1`, 0, -1},
		{`,1`, 0, -1},
		{``, 0, -1},
	}
	for _, tt := range tests {
		if got := jsonscan.ValueEnd([]byte(tt.in), tt.at); got != tt.want {
			t.Errorf("ValueEnd(%q, %d) = %d, want %d", tt.in, tt.at, got, tt.want)
		}
	}
}

func TestMembers(t *testing.T) {
	type member struct{ Name, Value string }
	tests := []struct {
		in   string
		want []member
		ok   bool
	}{
		{` {"a" : 1 , "b\"c":{"d":[true]}, "e":"}"} `, []member{{"a", "1"}, {`b\"c`, `{"d":[true]}`}, {"e", `"}"`}}, true},
		{`{}`, nil, true},
		{`{"a":1} x`, []member{{"a", "1"}}, false},
		{`{"a":1,}`, []member{{"a", "1"}}, false},
		{`{"a" 1}`, nil, false},
		{`[1]`, nil, false},
		{`{"a":1`, []member{{"a", "1"}}, false},
	}
	for _, tt := range tests {
		var got []member
		ok := jsonscan.Members([]byte(tt.in), func(name, value []byte) bool {
			got = append(got, member{string(name), string(value)})
			return true
		})
		if ok != tt.ok {
			t.Errorf("Members(%q) = %v, want %v", tt.in, ok, tt.ok)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("Members(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
	stopped := jsonscan.Members([]byte(`{"a":1,"b":2}`), func(name, _ []byte) bool { return string(name) != "a" })
	if stopped {
		t.Error("Members went on after each said stop")
	}
}

// FuzzMembers: on any input no panic; on a valid JSON object, Members
// reads it to the end with the values encoding/json finds, in order.
func FuzzMembers(f *testing.F) {
	for _, s := range []string{`{"a":1,"b":[{"c":"d\"}"}]}`, `{}`, `{"a":`, ` {"x":null} `, `[]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var values [][]byte
		ok := jsonscan.Members(b, func(_, value []byte) bool {
			values = append(values, value)
			return true
		})
		var obj map[string]json.RawMessage
		if !json.Valid(b) || json.Unmarshal(b, &obj) != nil {
			return
		}
		if !ok {
			t.Fatalf("Members refused the object %q", b)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		if _, err := dec.Token(); err != nil { // {
			t.Fatal(err)
		}
		for i := 0; dec.More(); i++ {
			if _, err := dec.Token(); err != nil { // the name
				t.Fatal(err)
			}
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				t.Fatal(err)
			}
			if i >= len(values) || !bytes.Equal(values[i], v) {
				t.Fatalf("%q: member %d: Members read %q, encoding/json %q", b, i, values, v)
			}
		}
	})
}
