// Package jsonscan walks JSON text without decoding it: the extent of a
// value, the members of an object. It is for hot paths that need a few
// members of a message (the JSON-RPC edge's envelope check, the relay's
// answers) and would otherwise decode all of it.
//
// It does not validate: on text that is not JSON its answers are
// unspecified (never a panic). Callers check the text first (json.Valid),
// or know it valid (they encoded it), or treat a failure as "read it the
// slow way".
package jsonscan

// SkipSpace returns the index of the first byte at or after i that is not
// JSON whitespace.
func SkipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// ValueEnd is the index just past the JSON value starting at b[i], or -1
// when b ends first or no value starts there.
func ValueEnd(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		for j := i + 1; j < len(b); j++ {
			switch b[j] {
			case '\\':
				j++
			case '"':
				return j + 1
			}
		}
		return -1
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end := ValueEnd(b, j)
				if end < 0 {
					return -1
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	case ',', ':', '}', ']':
		return -1
	}
	j := i
	for j < len(b) && !delimiter(b[j]) {
		j++
	}
	return j
}

// delimiter reports whether c ends a literal (a number, true, false, null).
func delimiter(c byte) bool {
	switch c {
	case ' ', '\t', '\r', '\n', ',', ':', '{', '}', '[', ']', '"':
		return true
	}
	return false
}

// Members calls each with the name (as written between its quotes,
// escapes not decoded) and the value of every member of the object that
// starts o (after whitespace), in order, and reports whether o is an
// object whose members it read to the end, with nothing but whitespace
// after it. It stops, reporting false, when each does.
func Members(o []byte, each func(name, value []byte) bool) bool {
	i := SkipSpace(o, 0)
	if i == len(o) || o[i] != '{' {
		return false
	}
	i = SkipSpace(o, i+1)
	if i < len(o) && o[i] == '}' {
		return SkipSpace(o, i+1) == len(o)
	}
	for i < len(o) {
		if o[i] != '"' {
			return false
		}
		end := ValueEnd(o, i)
		if end < 0 {
			return false
		}
		name := o[i+1 : end-1]
		i = SkipSpace(o, end)
		if i == len(o) || o[i] != ':' {
			return false
		}
		i = SkipSpace(o, i+1)
		end = ValueEnd(o, i)
		if end < 0 {
			return false
		}
		if !each(name, o[i:end]) {
			return false
		}
		i = SkipSpace(o, end)
		switch {
		case i < len(o) && o[i] == ',':
			i = SkipSpace(o, i+1)
		case i < len(o) && o[i] == '}':
			return SkipSpace(o, i+1) == len(o)
		default:
			return false
		}
	}
	return false
}
