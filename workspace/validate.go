package workspace

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/parleyhq/parley/internal/textcheck"
)

// Limits on what callers may store.
const (
	MaxIDLen       = 128
	MaxTextLen     = 16 << 10 // summary, resolution, reasons
	MaxShortLen    = 256      // customer, category
	MaxJSONBytes   = 256 << 10
	MaxRefund      = 1e9
	MaxListLimit   = 500
	DefaultListLen = 50
)

// ValidationError says which input was wrong and what is allowed.
type ValidationError struct {
	Field   string
	Problem string
}

func (e *ValidationError) Error() string { return fmt.Sprintf("invalid %s: %s", e.Field, e.Problem) }

// Is makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

func invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Problem: fmt.Sprintf(format, args...)}
}

// checkID accepts identifiers safe in URIs and logs: letters, digits and . _ : -
func checkID(field, id string) error {
	if id == "" {
		return invalid(field, "must not be empty")
	}
	if len(id) > MaxIDLen {
		return invalid(field, "%d characters is longer than the limit of %d", len(id), MaxIDLen)
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._:-", r)) {
			return invalid(field, "%q has %q; use letters, digits and . _ : -", id, r)
		}
	}
	return nil
}

// checkText accepts free text (summaries, resolutions, reasons) that
// people and models may read as it is: textcheck.Text's rule, so no
// control characters but tab and line breaks, no bidi controls, valid
// UTF-8.
func checkText(field, s string, limit int) error {
	if len(s) > limit {
		return invalid(field, "%d bytes is longer than the limit of %d", len(s), limit)
	}
	if err := textcheck.Text(s); err != nil {
		return invalid(field, "%v", err)
	}
	return nil
}

// checkLine accepts a one-line value such as a customer's name: as
// checkText, and no line breaks or tabs either.
func checkLine(field, s string, limit int) error {
	if len(s) > limit {
		return invalid(field, "%d bytes is longer than the limit of %d", len(s), limit)
	}
	if err := textcheck.Line(s); err != nil {
		return invalid(field, "%v", err)
	}
	return nil
}

func checkPriority(p string) error {
	if p != "" && !slices.Contains(Priorities, p) {
		return invalid("priority", "%q is not one of %s", p, strings.Join(Priorities, ", "))
	}
	return nil
}

func checkRefund(v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 || v > MaxRefund {
		return invalid("refund_amount", "%v must be a number from 0 to %.0f", v, float64(MaxRefund))
	}
	return nil
}

func checkStatus(s Status) error {
	if !s.Valid() {
		names := make([]string, len(Statuses))
		for i, st := range Statuses {
			names[i] = string(st)
		}
		return invalid("status", "%q is not one of %s", s, strings.Join(names, ", "))
	}
	return nil
}

// checkJSON requires a valid JSON document within the size limit; empty
// means null.
func checkJSON(field string, raw json.RawMessage) (json.RawMessage, error) {
	if len(raw) == 0 {
		return json.RawMessage("null"), nil
	}
	if len(raw) > MaxJSONBytes {
		return nil, invalid(field, "%d bytes is larger than the limit of %d", len(raw), MaxJSONBytes)
	}
	if !json.Valid(raw) {
		return nil, invalid(field, "is not valid JSON")
	}
	// Every string in it is text that agents and models read.
	if err := textcheck.JSON(raw); err != nil {
		return nil, invalid(field, "%v", err)
	}
	return raw, nil
}
