package negotiation

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"

	"github.com/parleyhq/parley/workspace"
)

// The ticket as rule expressions see it. The value a rule evaluates is the
// ticket's JSON form (a map with the JSON field names, what the question
// template sees too); the type checker sees it as a CEL object type per
// struct of workspace.Ticket, each field with its real type, so that
// `ticket.refund_amount > "200"` stops start-up instead of failing on
// every save. A field absent from the JSON form (omitempty: no approval
// yet, no resolution) reads as its type's zero value (an approval reads as
// one whose fields are all zero) and has() reports it absent, so a rule
// that compiles does not fail at runtime on a ticket that lacks one.
// Approval terms are JSON of no declared shape: dyn, an empty object when
// absent.

// ticketTypeName is the CEL type of the ticket variable.
const ticketTypeName = "parley.Ticket"

// fieldSchema describes one value of the ticket's JSON form: its CEL type,
// its fields when it is an object, and how to read it.
type fieldSchema struct {
	// path is how operators name it: ticket, ticket.approval.
	path string
	cel  *types.Type
	// fields is set for an object (a Go struct): its fields by JSON name.
	fields map[string]*fieldSchema
	// leaf is true for a value that has no fields (a string, a number, a
	// time); a value that is neither leaf nor object is JSON of no declared
	// shape (dyn).
	leaf bool
	// zero is the value read when the field is absent.
	zero any
	// fromJSON turns the field's JSON value (as encoding/json decodes it
	// into any) into the value CEL sees.
	fromJSON func(any) (any, error)
}

// ticketSchema is the ticket as rules see it; ticketObjects its object
// types, to register with the CEL environment.
var ticketSchema, ticketObjects = buildTicketSchema()

func buildTicketSchema() (*fieldSchema, []ref.Type) {
	var objs []ref.Type
	s := schemaOf(reflect.TypeFor[workspace.Ticket](), "ticket", &objs)
	return s, objs
}

func ticketObjectsAny() []any {
	out := make([]any, len(ticketObjects))
	for i, o := range ticketObjects {
		out[i] = o
	}
	return out
}

func identity(v any) (any, error) { return v, nil }

func schemaOf(t reflect.Type, path string, objs *[]ref.Type) *fieldSchema {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t {
	case reflect.TypeFor[time.Time]():
		return &fieldSchema{path: path, cel: types.TimestampType, leaf: true, zero: time.Time{}, fromJSON: timeFromJSON}
	case reflect.TypeFor[json.RawMessage]():
		return &fieldSchema{path: path, cel: types.DynType, zero: map[string]any{}, fromJSON: identity}
	}
	switch t.Kind() {
	case reflect.Struct:
		s := &fieldSchema{path: path, fields: make(map[string]*fieldSchema), zero: map[string]any{}, fromJSON: objectFromJSON}
		name := ticketTypeName
		if path != "ticket" {
			name = "parley." + t.Name()
		}
		s.cel = types.NewObjectType(name)
		for i := range t.NumField() {
			f := t.Field(i)
			jsonName, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if !f.IsExported() || jsonName == "-" {
				continue
			}
			if jsonName == "" {
				jsonName = f.Name
			}
			s.fields[jsonName] = schemaOf(f.Type, path+"."+jsonName, objs)
		}
		*objs = append(*objs, &objectType{name: name, schema: s})
		return s
	case reflect.String:
		return &fieldSchema{path: path, cel: types.StringType, leaf: true, zero: "", fromJSON: jsonAs[string]}
	case reflect.Bool:
		return &fieldSchema{path: path, cel: types.BoolType, leaf: true, zero: false, fromJSON: jsonAs[bool]}
	case reflect.Float32, reflect.Float64:
		return &fieldSchema{path: path, cel: types.DoubleType, leaf: true, zero: 0.0, fromJSON: jsonAs[float64]}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return &fieldSchema{path: path, cel: types.IntType, leaf: true, zero: int64(0), fromJSON: func(v any) (any, error) {
			f, err := jsonAs[float64](v)
			return int64(f.(float64)), err
		}}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return &fieldSchema{path: path, cel: types.UintType, leaf: true, zero: uint64(0), fromJSON: func(v any) (any, error) {
			f, err := jsonAs[float64](v)
			return uint64(f.(float64)), err
		}}
	}
	// Lists and maps: JSON of whatever shape the elements have.
	return &fieldSchema{path: path, cel: types.DynType, zero: nil, fromJSON: identity}
}

// jsonAs checks that a decoded JSON value has the Go type T.
func jsonAs[T any](v any) (any, error) {
	if x, ok := v.(T); ok {
		return x, nil
	}
	var want T
	return want, fmt.Errorf("the ticket's JSON holds %v (%T) where %T was expected", v, v, want)
}

func timeFromJSON(v any) (any, error) {
	s, ok := v.(string)
	if !ok {
		return time.Time{}, fmt.Errorf("the ticket's JSON holds %v (%T) where a time was expected", v, v)
	}
	return time.Parse(time.RFC3339Nano, s)
}

func objectFromJSON(v any) (any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return map[string]any{}, fmt.Errorf("the ticket's JSON holds %v (%T) where an object was expected", v, v)
	}
	return m, nil
}

// lookup returns the schema of a path below s (["approval", "decision"]),
// or nil when it is not declared (below dyn JSON, or no such field).
func (s *fieldSchema) lookup(path []string) *fieldSchema {
	for _, f := range path {
		if s == nil || s.fields == nil {
			return nil
		}
		s = s.fields[f]
	}
	return s
}

// objectType is one object of the ticket (the ticket, its approval, its
// generated summary) declared to CEL: the type checker learns its fields
// and their types, and the interpreter reads them from the JSON map.
type objectType struct {
	name   string
	schema *fieldSchema
}

var (
	_ ref.Type                   = (*objectType)(nil)
	_ types.StructTypeDescriptor = (*objectType)(nil)
)

func (o *objectType) TypeName() string { return o.name }

func (o *objectType) HasTrait(trait int) bool {
	return trait == traits.FieldTesterType || trait == traits.IndexerType
}

func (o *objectType) ReflectType() reflect.Type { return nil }

func (o *objectType) FieldNames() []string { return slices.Sorted(maps.Keys(o.schema.fields)) }

func (o *objectType) FindFieldType(name string) (*types.FieldType, bool) {
	f, ok := o.schema.fields[name]
	if !ok {
		return nil, false
	}
	return &types.FieldType{
		Type: f.cel,
		// Present means in the JSON form: omitempty leaves out what a
		// ticket does not have.
		IsSet: func(target any) bool {
			m, _ := target.(map[string]any)
			return m[name] != nil
		},
		GetFrom: func(target any) (any, error) {
			m, ok := target.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s is %T, not an object", o.schema.path, target)
			}
			v := m[name]
			if v == nil {
				return f.zero, nil
			}
			out, err := f.fromJSON(v)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f.path, err)
			}
			return out, nil
		},
	}, true
}

// NewValue refuses to build one in an expression (parley.Ticket{...}):
// rules read tickets, they do not make them.
func (o *objectType) NewValue(types.Adapter, map[string]ref.Val) ref.Val {
	return types.NewErr("%s values cannot be built in a rule", o.schema.path)
}

// Adapt is never called: no Go type is registered as this object.
func (o *objectType) Adapt(types.Adapter, any) ref.Val {
	return types.NewErr("%s values cannot be adapted", o.schema.path)
}

// describeType says what a value of a CEL type is, in an operator's terms
// with the CEL type name for reference: "a number (double)".
func describeType(t *types.Type) string {
	switch t.Kind() {
	case types.BoolKind:
		return "true or false (bool)"
	case types.IntKind:
		return "a whole number (int)"
	case types.UintKind:
		return "an unsigned whole number (uint)"
	case types.DoubleKind:
		return "a number (double)"
	case types.StringKind:
		return "a string"
	case types.BytesKind:
		return "bytes"
	case types.NullTypeKind:
		return "null"
	case types.TimestampKind:
		return "a time (timestamp)"
	case types.DurationKind:
		return "a duration"
	case types.ListKind:
		return "a list (" + t.String() + ")"
	case types.MapKind:
		return "a map (" + t.String() + ")"
	case types.DynKind, types.AnyKind:
		return "JSON of any type (dyn)"
	case types.TypeKind:
		return "a type"
	case types.StructKind:
		for _, o := range ticketObjects {
			if o.TypeName() == t.TypeName() {
				return "the object " + o.(*objectType).schema.path
			}
		}
	}
	return "a value of type " + t.String()
}

// jsonable reports whether a value of type t can be a term: the terms are
// a JSON object on the wire (NEGOTIATION.md).
func jsonable(t *types.Type) bool {
	switch t.Kind() {
	case types.BoolKind, types.IntKind, types.UintKind, types.DoubleKind, types.StringKind, types.NullTypeKind,
		types.TimestampKind, types.DurationKind, types.DynKind, types.AnyKind:
		return true
	case types.ListKind:
		return jsonable(t.Parameters()[0])
	case types.MapKind:
		k := t.Parameters()[0].Kind()
		return (k == types.StringKind || k == types.DynKind) && jsonable(t.Parameters()[1])
	case types.StructKind:
		return slices.ContainsFunc(ticketObjects, func(o ref.Type) bool { return o.TypeName() == t.TypeName() })
	}
	return false
}
