package config

import (
	"fmt"
	"strconv"
	"strings"
)

// SourceKind says which layer of the configuration a value came from.
type SourceKind int

const (
	// SourceUnknown: the value was not read by Load (e.g. a Config built
	// in code and checked with Validate).
	SourceUnknown SourceKind = iota
	SourceDefault
	SourceFile
	SourceEnv
	SourceFlag
)

// Source is where a value came from, precise enough for an operator to go
// and fix it.
type Source struct {
	Kind SourceKind
	// Name is the file path, the environment variable (PARLEY_STORE) or
	// the flag (--store). Empty for defaults, and for command-line
	// problems that are not about one flag.
	Name string
	// Line is the line in the file, when known.
	Line int
}

func (s Source) String() string {
	switch s.Kind {
	case SourceDefault:
		return "the default"
	case SourceFile:
		out := "config file " + s.Name
		if s.Line > 0 {
			out += ", line " + strconv.Itoa(s.Line)
		}
		return out
	case SourceEnv, SourceFlag:
		if s.Name != "" {
			return s.Name
		}
		if s.Kind == SourceFlag {
			return "command line"
		}
		return "environment"
	default:
		return ""
	}
}

// Error is an invalid configuration: which setting, the bad value, where
// it came from and what would be accepted. Load returns it (or several,
// joined with errors.Join) for every problem it finds; match it with
// errors.As.
type Error struct {
	// Field is the setting as named in the YAML file ("store",
	// "max_body_bytes"; "config" for the config file path itself). It is
	// empty when the problem is not one setting's value: a file that is
	// not YAML, an unknown key (then Value holds the key), a bad flag.
	Field string
	// Value is the offending value as given (passwords masked).
	Value string
	// Source is where Value came from.
	Source Source
	// Reason says what is wrong or what is allowed.
	Reason string
	// Err is the underlying error, if any.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("invalid config: ")
	src := e.Source.String()
	if e.Field != "" {
		fmt.Fprintf(&b, "%s %q", e.Field, e.Value)
		if src != "" {
			fmt.Fprintf(&b, " (from %s)", src)
		}
	} else {
		if src == "" {
			src = "configuration"
		}
		b.WriteString(src)
	}
	b.WriteString(": ")
	b.WriteString(e.Reason)
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }
