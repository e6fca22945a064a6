package agentcards

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/parleyhq/parley/internal/textcheck"
)

// WellKnownPath is where an agent serves its card, relative to its base
// URL (a2a-go's a2asrv.WellKnownAgentCardPath).
const WellKnownPath = "/.well-known/agent-card.json"

// Transports: A2A 0.3's preferredTransport and transport, A2A 1.0's
// protocolBinding.
const (
	TransportJSONRPC  = "JSONRPC"
	TransportGRPC     = "GRPC"
	TransportHTTPJSON = "HTTP+JSON"
)

var knownTransports = []string{TransportJSONRPC, TransportGRPC, TransportHTTPJSON}

// Limits on what a card may hold, so that a hostile card cannot make the
// registry (or the MCP tool list built from it) arbitrarily large.
const (
	maxTextLen   = 256 // names, IDs, tags, versions
	maxSkills    = 256
	maxTags      = 64
	maxInterface = 32
)

// ErrInvalidCard: an agent card did not validate. The error is a
// *CardError naming the field.
var ErrInvalidCard = errors.New("invalid agent card")

// CardError says which field of a card is wrong and why.
type CardError struct {
	// Field is a path into the card such as "skills[1].id"; empty when the
	// document as a whole is wrong.
	Field  string
	Reason string
}

func (e *CardError) Error() string {
	if e.Field == "" {
		return "invalid agent card: " + e.Reason
	}
	return "invalid agent card: " + e.Field + ": " + e.Reason
}

// Is makes errors.Is(err, ErrInvalidCard) true.
func (e *CardError) Is(target error) bool { return target == ErrInvalidCard }

func cardErr(field, format string, args ...any) *CardError {
	return &CardError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Interface is one way to reach an agent.
type Interface struct {
	// URL is an http(s) URL, or for gRPC possibly a host:port dial target.
	URL             string
	Transport       string // TransportJSONRPC, TransportGRPC or TransportHTTPJSON
	ProtocolVersion string // may be empty for an A2A 0.3 additional interface
}

// Skill is one skill of an agent.
type Skill struct {
	ID          string
	Name        string
	Description string
	Tags        []string
	Examples    []string
}

// Capabilities are the optional features an agent declares.
type Capabilities struct {
	Streaming         bool
	PushNotifications bool
	// Extensions are the URIs of the protocol extensions it supports.
	Extensions []string
}

// Card is a validated agent card: the document as received, and what
// Parley reads from it. Both A2A 0.3 cards (url, preferredTransport,
// additionalInterfaces, protocolVersion) and A2A 1.0 cards
// (supportedInterfaces) are accepted, as are cards carrying both.
type Card struct {
	// Raw is the document as received, compacted.
	Raw json.RawMessage
	// Hash identifies the document: "sha256:" and the hex SHA-256 of its
	// canonical JSON (object keys sorted, no insignificant space, numbers
	// as written), so that reformatting a card does not change it.
	Hash string

	Name        string
	Description string
	Version     string // the agent's own version
	// ProtocolVersion is the A2A version: the card's protocolVersion (0.3),
	// else that of the interface Endpoint came from (1.0).
	ProtocolVersion string
	// Endpoint is the URL to send JSON-RPC to: the first JSON-RPC interface
	// (0.3: url when preferredTransport is JSONRPC or unset, then
	// additionalInterfaces; then 1.0's supportedInterfaces in order). An
	// agent without a JSON-RPC interface gets its preferred interface's URL,
	// and EndpointTransport says which transport that is.
	Endpoint          string
	EndpointTransport string
	// Interfaces lists every declared interface, preferred first, without
	// duplicates.
	Interfaces   []Interface
	Skills       []Skill
	Capabilities Capabilities
	// SecuritySchemes are the names of the declared security schemes, sorted.
	SecuritySchemes []string
	// A2A03 and A2A10 say which generations of fields the card carries.
	A2A03, A2A10 bool
}

// SkillIDs returns the IDs of the card's skills.
func (c *Card) SkillIDs() []string {
	out := make([]string, len(c.Skills))
	for i, s := range c.Skills {
		out[i] = s.ID
	}
	return out
}

// Tags returns the tags of the card's skills, without duplicates.
func (c *Card) Tags() []string {
	var out []string
	for _, s := range c.Skills {
		for _, t := range s.Tags {
			if !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
	}
	return out
}

// SearchText is what a free-text search matches: the agent's name and
// description, and its skills' names and descriptions.
func (c *Card) SearchText() string {
	parts := []string{c.Name, c.Description}
	for _, s := range c.Skills {
		parts = append(parts, s.Name, s.Description)
	}
	return strings.Join(parts, "\n")
}

// The card as it arrives: the union of A2A 0.3 and 1.0 fields Parley
// reads. Pointers tell a missing field from an empty one.
type wireCard struct {
	Name                 *string                               `json:"name"`
	Description          string                                `json:"description"`
	Version              *string                               `json:"version"`
	ProtocolVersion      *string                               `json:"protocolVersion"`
	URL                  *string                               `json:"url"`
	PreferredTransport   string                                `json:"preferredTransport"`
	AdditionalInterfaces []wireInterface                       `json:"additionalInterfaces"`
	SupportedInterfaces  []wireInterface                       `json:"supportedInterfaces"`
	Capabilities         *wireCapabilities                     `json:"capabilities"`
	Skills               *[]wireSkill                          `json:"skills"`
	SecuritySchemes      map[string]map[string]json.RawMessage `json:"securitySchemes"`
}

type wireInterface struct {
	URL             string `json:"url"`
	Transport       string `json:"transport"`       // 0.3
	ProtocolBinding string `json:"protocolBinding"` // 1.0
	ProtocolVersion string `json:"protocolVersion"` // 1.0
}

type wireCapabilities struct {
	Streaming         bool `json:"streaming"`
	PushNotifications bool `json:"pushNotifications"`
	Extensions        []struct {
		URI string `json:"uri"`
	} `json:"extensions"`
}

type wireSkill struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Tags        []string `json:"tags"`
	Examples    []string `json:"examples"`
}

// Security scheme kinds: A2A 0.3 names a scheme's kind in "type", A2A 1.0
// wraps the scheme in an object keyed by its kind.
var (
	schemeTypes03 = []string{"apiKey", "http", "mutualTLS", "oauth2", "openIdConnect"}
	schemeKeys10  = map[string]string{ // 1.0 key → 0.3 type
		"apiKeySecurityScheme":        "apiKey",
		"httpAuthSecurityScheme":      "http",
		"mtlsSecurityScheme":          "mutualTLS",
		"oauth2SecurityScheme":        "oauth2",
		"openIdConnectSecurityScheme": "openIdConnect",
	}
)

// ParseCard validates an agent card document and reads it. A card must
// be a JSON object with a name, a version, capabilities, at least one
// skill (each with an ID unique in the card, and a name), and at least one
// interface: A2A 0.3's url (with protocolVersion, and preferredTransport
// one of JSONRPC, GRPC or HTTP+JSON when set) or A2A 1.0's
// supportedInterfaces (each with a url, a known protocolBinding and a
// protocolVersion). Interface URLs must be absolute http(s) URLs, except
// that a gRPC interface may name a host:port. Security schemes must be of
// a kind A2A defines. Other fields are kept but not checked.
//
// The error is a *CardError naming the field.
func ParseCard(doc []byte) (*Card, error) {
	c, w, err := decodeCard(doc)
	if err != nil {
		return nil, err
	}
	if err := validate(c, w); err != nil {
		return nil, err
	}
	return c, nil
}

// decodeCard reads a card without validating it beyond its JSON types:
// for cards already stored, which validated when they were.
func decodeCard(doc []byte) (*Card, *wireCard, error) {
	trimmed := bytes.TrimSpace(doc)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, nil, cardErr("", "must be a JSON object")
	}
	canonical, err := canonicalJSON(trimmed)
	if err != nil {
		return nil, nil, err
	}
	var w wireCard
	if err := json.Unmarshal(trimmed, &w); err != nil {
		return nil, nil, jsonCardError(err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, trimmed); err != nil {
		return nil, nil, jsonCardError(err)
	}
	sum := sha256.Sum256(canonical)
	c := &Card{
		Raw:         compact.Bytes(),
		Hash:        "sha256:" + hex.EncodeToString(sum[:]),
		Description: w.Description,
	}
	if w.Name != nil {
		c.Name = *w.Name
	}
	if w.Version != nil {
		c.Version = *w.Version
	}
	if w.ProtocolVersion != nil {
		c.ProtocolVersion = *w.ProtocolVersion
	}
	c.A2A03 = w.URL != nil
	c.A2A10 = len(w.SupportedInterfaces) > 0

	var ifaces []Interface
	// A card carrying both versions' fields names its 0.3 interfaces twice
	// (url and additionalInterfaces, then supportedInterfaces, with "0.3.0"
	// in one and "0.3" in the other): one entry each. The same URL and
	// binding in two versions (one endpoint serving both) are two.
	add := func(i Interface) {
		for _, have := range ifaces {
			if have.URL == i.URL && have.Transport == i.Transport && minorVersion(have.ProtocolVersion) == minorVersion(i.ProtocolVersion) {
				return
			}
		}
		ifaces = append(ifaces, i)
	}
	if w.URL != nil {
		t := w.PreferredTransport
		if t == "" {
			t = TransportJSONRPC
		}
		add(Interface{URL: *w.URL, Transport: t, ProtocolVersion: c.ProtocolVersion})
	}
	for _, i := range w.AdditionalInterfaces {
		add(Interface{URL: i.URL, Transport: i.Transport, ProtocolVersion: c.ProtocolVersion})
	}
	for _, i := range w.SupportedInterfaces {
		pv := i.ProtocolVersion
		if pv == "" {
			pv = c.ProtocolVersion
		}
		add(Interface{URL: i.URL, Transport: i.ProtocolBinding, ProtocolVersion: pv})
	}
	c.Interfaces = ifaces
	for _, i := range ifaces {
		if i.Transport == TransportJSONRPC {
			c.Endpoint, c.EndpointTransport = i.URL, i.Transport
			if c.ProtocolVersion == "" {
				c.ProtocolVersion = i.ProtocolVersion
			}
			break
		}
	}
	if c.Endpoint == "" && len(ifaces) > 0 {
		c.Endpoint, c.EndpointTransport = ifaces[0].URL, ifaces[0].Transport
		if c.ProtocolVersion == "" {
			c.ProtocolVersion = ifaces[0].ProtocolVersion
		}
	}

	if w.Skills != nil {
		for _, s := range *w.Skills {
			c.Skills = append(c.Skills, Skill{ID: s.ID, Name: s.Name, Description: s.Description, Tags: s.Tags, Examples: s.Examples})
		}
	}
	if w.Capabilities != nil {
		c.Capabilities = Capabilities{Streaming: w.Capabilities.Streaming, PushNotifications: w.Capabilities.PushNotifications}
		for _, e := range w.Capabilities.Extensions {
			c.Capabilities.Extensions = append(c.Capabilities.Extensions, e.URI)
		}
	}
	for name := range w.SecuritySchemes {
		c.SecuritySchemes = append(c.SecuritySchemes, name)
	}
	slices.Sort(c.SecuritySchemes)
	return c, &w, nil
}

func validate(c *Card, w *wireCard) error {
	if w.Name == nil || strings.TrimSpace(*w.Name) == "" {
		return cardErr("name", "is required")
	}
	if err := checkText("name", *w.Name); err != nil {
		return err
	}
	if w.Version == nil || strings.TrimSpace(*w.Version) == "" {
		return cardErr("version", "is required (the agent's own version, e.g. \"1.0.0\")")
	}
	if err := checkText("version", *w.Version); err != nil {
		return err
	}
	if w.Capabilities == nil {
		return cardErr("capabilities", "is required (an object, {} when the agent declares none)")
	}
	for i, e := range w.Capabilities.Extensions {
		if e.URI == "" {
			return cardErr(fmt.Sprintf("capabilities.extensions[%d].uri", i), "is required")
		}
	}

	// Interfaces.
	if w.URL == nil && len(w.SupportedInterfaces) == 0 {
		return cardErr("url", "is required: an A2A 0.3 card needs url, an A2A 1.0 card supportedInterfaces")
	}
	if len(w.AdditionalInterfaces)+len(w.SupportedInterfaces) > maxInterface {
		return cardErr("supportedInterfaces", "declares more than %d interfaces", maxInterface)
	}
	if w.URL != nil {
		t := w.PreferredTransport
		if t != "" && !slices.Contains(knownTransports, t) {
			return cardErr("preferredTransport", "%q is not a known transport (want one of %s)", t, strings.Join(knownTransports, ", "))
		}
		if t == "" {
			t = TransportJSONRPC
		}
		if err := checkInterfaceURL("url", *w.URL, t); err != nil {
			return err
		}
		if w.ProtocolVersion == nil || strings.TrimSpace(*w.ProtocolVersion) == "" {
			return cardErr("protocolVersion", "is required with url (A2A 0.3 cards state the protocol version, e.g. \"0.3.0\")")
		}
	}
	if w.ProtocolVersion != nil {
		if err := checkText("protocolVersion", *w.ProtocolVersion); err != nil {
			return err
		}
	}
	for i, iface := range w.AdditionalInterfaces {
		field := fmt.Sprintf("additionalInterfaces[%d]", i)
		if iface.Transport == "" {
			return cardErr(field+".transport", "is required (one of %s)", strings.Join(knownTransports, ", "))
		}
		if !slices.Contains(knownTransports, iface.Transport) {
			return cardErr(field+".transport", "%q is not a known transport (want one of %s)", iface.Transport, strings.Join(knownTransports, ", "))
		}
		if err := checkInterfaceURL(field+".url", iface.URL, iface.Transport); err != nil {
			return err
		}
	}
	for i, iface := range w.SupportedInterfaces {
		field := fmt.Sprintf("supportedInterfaces[%d]", i)
		if iface.ProtocolBinding == "" {
			return cardErr(field+".protocolBinding", "is required (one of %s)", strings.Join(knownTransports, ", "))
		}
		if !slices.Contains(knownTransports, iface.ProtocolBinding) {
			return cardErr(field+".protocolBinding", "%q is not a known protocol binding (want one of %s)", iface.ProtocolBinding, strings.Join(knownTransports, ", "))
		}
		if err := checkInterfaceURL(field+".url", iface.URL, iface.ProtocolBinding); err != nil {
			return err
		}
		if strings.TrimSpace(iface.ProtocolVersion) == "" && (w.ProtocolVersion == nil || *w.ProtocolVersion == "") {
			return cardErr(field+".protocolVersion", "is required (e.g. \"1.0\")")
		}
		if err := checkText(field+".protocolVersion", iface.ProtocolVersion); err != nil {
			return err
		}
	}

	// Skills.
	if w.Skills == nil || len(*w.Skills) == 0 {
		return cardErr("skills", "must list at least one skill")
	}
	if len(*w.Skills) > maxSkills {
		return cardErr("skills", "lists %d skills; at most %d are accepted", len(*w.Skills), maxSkills)
	}
	seen := make(map[string]int, len(*w.Skills))
	for i, s := range *w.Skills {
		field := fmt.Sprintf("skills[%d]", i)
		if strings.TrimSpace(s.ID) == "" {
			return cardErr(field+".id", "is required")
		}
		if err := checkText(field+".id", s.ID); err != nil {
			return err
		}
		if j, dup := seen[strings.ToLower(s.ID)]; dup {
			return cardErr(field+".id", "%q repeats the ID of skills[%d] (skill IDs are unique ignoring case)", s.ID, j)
		}
		seen[strings.ToLower(s.ID)] = i
		if strings.TrimSpace(s.Name) == "" {
			return cardErr(field+".name", "is required")
		}
		if err := checkText(field+".name", s.Name); err != nil {
			return err
		}
		if len(s.Tags) > maxTags {
			return cardErr(field+".tags", "lists %d tags; at most %d are accepted", len(s.Tags), maxTags)
		}
		for j, tag := range s.Tags {
			if strings.TrimSpace(tag) == "" {
				return cardErr(fmt.Sprintf("%s.tags[%d]", field, j), "must not be empty")
			}
			if err := checkText(fmt.Sprintf("%s.tags[%d]", field, j), tag); err != nil {
				return err
			}
		}
	}

	// Security schemes.
	for _, name := range c.SecuritySchemes {
		field := "securitySchemes." + name
		scheme := w.SecuritySchemes[name]
		if scheme == nil {
			return cardErr(field, "must be an object")
		}
		if raw, ok := scheme["type"]; ok {
			var typ string
			if err := json.Unmarshal(raw, &typ); err != nil || !slices.Contains(schemeTypes03, typ) {
				return cardErr(field+".type", "must be one of %s", strings.Join(schemeTypes03, ", "))
			}
			continue
		}
		var kinds []string
		for k := range scheme {
			if _, ok := schemeKeys10[k]; ok {
				kinds = append(kinds, k)
			}
		}
		if len(kinds) != 1 {
			return cardErr(field, "must have a type (A2A 0.3: one of %s) or exactly one of %s (A2A 1.0)",
				strings.Join(schemeTypes03, ", "), strings.Join(sortedKeys(schemeKeys10), ", "))
		}
	}
	return nil
}

// checkText refuses overlong values and what textcheck refuses in a line
// (invalid UTF-8, control characters, bidi controls): they would corrupt
// logs and the registry's search columns, and models read agent cards.
func checkText(field, s string) error {
	if len(s) > maxTextLen {
		return cardErr(field, "is %d bytes long; at most %d are accepted", len(s), maxTextLen)
	}
	if err := textcheck.Line(s); err != nil {
		return cardErr(field, "%v", err)
	}
	return nil
}

// minorVersion is a protocol version's major.minor ("0.3" of "0.3.0").
func minorVersion(v string) string {
	if major, rest, ok := strings.Cut(v, "."); ok {
		minor, _, _ := strings.Cut(rest, ".")
		return major + "." + minor
	}
	return v
}

// checkInterfaceURL accepts an absolute http(s) URL with a host and no
// credentials; for gRPC also a host:port dial target.
func checkInterfaceURL(field, raw, transport string) error {
	if strings.TrimSpace(raw) == "" {
		return cardErr(field, "is required")
	}
	if transport == TransportGRPC && !strings.Contains(raw, "://") {
		host, port, err := net.SplitHostPort(raw)
		if err != nil || host == "" {
			return cardErr(field, "%q is neither a URL nor a host:port dial target", raw)
		}
		if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
			return cardErr(field, "%q has an invalid port", raw)
		}
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return cardErr(field, "%q is not a URL: %v", raw, unwrapURLError(err))
	}
	schemes := []string{"http", "https"}
	if transport == TransportGRPC {
		schemes = append(schemes, "grpc", "grpcs")
	}
	if !slices.Contains(schemes, u.Scheme) {
		return cardErr(field, "%q must be an absolute %s URL", raw, strings.Join(schemes, " or "))
	}
	if u.Hostname() == "" {
		return cardErr(field, "%q has no host", raw)
	}
	if u.User != nil {
		return cardErr(field, "%q must not carry credentials", raw)
	}
	return nil
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// jsonCardError names the field a JSON decoding error is about.
func jsonCardError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return cardErr(te.Field, "must be %s, not a JSON %s", describeKind(te.Type), te.Value)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return cardErr("", "not valid JSON at byte %d: %v", se.Offset, err)
	}
	return cardErr("", "not valid JSON: %v", err)
}

func describeKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Int, reflect.Int64, reflect.Float64:
		return "a number"
	}
	return "a " + t.String()
}

// canonicalJSON re-encodes a JSON document with object keys sorted and no
// insignificant space, keeping numbers as written. It refuses anything
// after the first value.
func canonicalJSON(doc []byte) ([]byte, error) {
	v, err := decodeGeneric(doc)
	if err != nil {
		return nil, err
	}
	return encodeCanonical(v), nil
}

func decodeGeneric(doc []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, jsonCardError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, cardErr("", "holds more than one JSON value")
	}
	return v, nil
}

func encodeCanonical(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	// A value decoded by decodeGeneric always encodes.
	_ = enc.Encode(v)
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
