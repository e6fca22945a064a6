package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// The config file is named by a flag or an environment variable, never
// found implicitly, so that what a process reads is visible in how it was
// started.
const (
	configFlag = "config"
	configEnv  = "PARLEY_CONFIG"
	envPrefix  = "PARLEY_"
)

// setting is one scalar that can be set in every layer: the YAML file, a
// PARLEY_* environment variable and a flag.
type setting struct {
	// key is the setting's YAML path ("max_body_bytes"; a nested section's
	// would be "oidc.issuer"). Errors name settings by it.
	key string
	// usage is the flag's help; a `backquoted` word names its value.
	usage string
	// field returns a pointer to the setting in c: *string, *int64, *int,
	// *float64, *bool, *time.Duration or *[]string (comma-separated in the
	// environment and on the command line).
	field func(c *Config) any
	// name, when set, replaces key in the environment variable and flag
	// names, for settings whose established spelling differs from their
	// YAML path ("oidc_issuer" gives PARLEY_OIDC_ISSUER and --oidc-issuer
	// for auth.issuer).
	name string
}

// settings lists every scalar setting. Environment variable and flag
// names are derived from key, which keeps the three spellings in step:
// "max_body_bytes" is PARLEY_MAX_BODY_BYTES and --max-body-bytes.
func settings() []setting {
	return []setting{
		{"listen", "TCP `address` to listen on, host:port (port 0 picks a free one)",
			func(c *Config) any { return &c.Listen }, ""},
		{"grpc_listen", "TCP `address` for the A2A gRPC binding, host:port (empty: no gRPC)",
			func(c *Config) any { return &c.GRPCListen }, ""},
		{"public_url", "base `URL` clients reach the gateway at, published in its A2A agent card (default: http:// and the listen address)",
			func(c *Config) any { return &c.PublicURL }, ""},
		{"store", "persistence backend: sqlite://PATH or a postgres:// `URL`",
			func(c *Config) any { return &c.Store }, ""},
		{"max_body_bytes", "largest request body accepted, in `bytes`",
			func(c *Config) any { return &c.MaxBodyBytes }, ""},
		{"gc_heap_floor_bytes", "heap size in `bytes` below which the Go collector does not run, trading that much memory for CPU (0: off; so is a GOGC environment variable)",
			func(c *Config) any { return &c.GCHeapFloorBytes }, ""},
		{"shutdown_timeout", "how long in-flight requests may take to finish on shutdown (a `duration` such as 15s)",
			func(c *Config) any { return &c.ShutdownTimeout }, ""},
		{"log_level", "log `level`: debug, info, warn or error",
			func(c *Config) any { return &c.LogLevel }, ""},
		{"log_format", "log `format`: text or json",
			func(c *Config) any { return &c.LogFormat }, ""},
		{"http.allowed_hosts", "host `names` clients may reach the gateway by (Host header), comma-separated, besides localhost, 127.0.0.1, [::1] and public_url's host; *.example.com for subdomains, * for any (only behind a proxy that checks Host)",
			func(c *Config) any { return &c.HTTP.AllowedHosts }, ""},
		{"http.allowed_origins", "browser `origins` (scheme://host[:port]) whose pages may call the gateway, comma-separated, besides pages on an allowed host",
			func(c *Config) any { return &c.HTTP.AllowedOrigins }, ""},
		{"http.body_read_timeout", "how long a client may take to send a request body (a `duration`; response streams are not affected)",
			func(c *Config) any { return &c.HTTP.BodyReadTimeout }, ""},
		{"http.max_conns", "most client `connections` open at once; more are closed on arrival (negative: no limit)",
			func(c *Config) any { return &c.HTTP.MaxConns }, ""},
		{"http.max_conns_per_client", "most `connections` open at once from one client IP address (IPv6: per /64); behind a proxy, raise it (negative: no limit)",
			func(c *Config) any { return &c.HTTP.MaxConnsPerClient }, ""},
		{"mcp.confirm_refund_above", "a ticket is resolved with a refund above this `amount` only once a person confirms it (0: every refund; negative: never)",
			func(c *Config) any { return &c.MCP.ConfirmRefundAbove }, ""},
		{"mcp.state_key", "`secret` that signs MCP multi round-trip request state; replicas must share it (default: random per process)",
			func(c *Config) any { return &c.MCP.StateKey }, ""},
		{"mcp.session_timeout", "how long an MCP session (2025-11-25 and older) may stay idle before it ends, a `duration`",
			func(c *Config) any { return &c.MCP.SessionTimeout }, ""},
		{"mcp.replica_lease", "how long a replica not heard of is still taken as running, a `duration`; then another takes over the calls it was streaming",
			func(c *Config) any { return &c.MCP.ReplicaLease }, ""},
		{"allow_private_agent_urls", "let A2A agent and push-notification URLs reach loopback, private and other internal addresses (refused by default: server-side request forgery guard)",
			func(c *Config) any { return &c.AllowPrivateAgentURLs }, ""},
		{"agents.health_interval", "how often each registered A2A agent is probed, a `duration` (negative: never)",
			func(c *Config) any { return &c.Agents.HealthInterval }, ""},
		{key: "auth.issuer", name: "oidc_issuer",
			usage: "OIDC issuer `URL` whose tokens callers present; setting it turns authentication on (empty: no-auth mode, loopback only)",
			field: func(c *Config) any { return &c.Auth.Issuer }},
		{key: "auth.audiences", name: "oidc_audience",
			usage: "token `audiences` the gateway accepts, comma-separated (required with --oidc-issuer)",
			field: func(c *Config) any { return &c.Auth.Audiences }},
		{key: "auth.insecure_no_auth", name: "insecure_no_auth",
			usage: "allow no-auth mode (no --oidc-issuer) on non-loopback listen addresses: anyone who can connect may do anything",
			field: func(c *Config) any { return &c.Auth.InsecureNoAuth }},
		{"negotiation.turn_timeout", "how long one negotiation turn may take: the agent's answer, or its task ending (a `duration`)",
			func(c *Config) any { return &c.Negotiation.TurnTimeout }, ""},
		{"negotiation.lease", "how long a replica holds a negotiation without renewing it before another may take it over (a `duration`)",
			func(c *Config) any { return &c.Negotiation.Lease }, ""},
		{"negotiation.retry_backoff", "first wait before resending a negotiation turn after a transport failure, doubled for each retry (a `duration`)",
			func(c *Config) any { return &c.Negotiation.RetryBackoff }, ""},
		{"metrics.enabled", "serve Prometheus metrics at /metrics (protected like the admin API when auth is on, on the main listener)",
			func(c *Config) any { return &c.Metrics.Enabled }, ""},
		{"metrics.listen", "TCP `address` of a listener serving only /metrics, host:port (empty: on the main listener; no token asked there, so bind it where only the scraper reaches)",
			func(c *Config) any { return &c.Metrics.Listen }, ""},
		{"ui.client_id", "the admin web UI's OpenID Connect `client` ID at auth.issuer (a public client, redirect URI public_url + /ui/)",
			func(c *Config) any { return &c.UI.ClientID }, ""},
		{"ui.scopes", "`scopes` the admin web UI asks for at sign-in, comma-separated (default openid)",
			func(c *Config) any { return &c.UI.Scopes }, ""},
		{"ui.resource", "resource indicator (RFC 8707) the admin web UI sends at sign-in, for issuers that set the token's audience by it (a `URI`)",
			func(c *Config) any { return &c.UI.Resource }, ""},
	}
}

func (s setting) envName() string {
	return envPrefix + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(s.spelling()))
}

func (s setting) flagName() string {
	return strings.NewReplacer("_", "-", ".", "-").Replace(s.spelling())
}

func (s setting) spelling() string {
	if s.name != "" {
		return s.name
	}
	return s.key
}

// Load reads the configuration: defaults, then the YAML file named by
// --config or PARLEY_CONFIG (the flag wins), then PARLEY_* environment
// variables, then the flags in args, and validates the result. getenv is
// os.Getenv in production; an empty variable counts as unset.
//
// Every problem is reported as an *Error (several are joined with
// errors.Join). When args ask for help, Load returns flag.ErrHelp; print
// Usage then.
func Load(args []string, getenv func(string) string) (Config, error) {
	return load(args, getenv, os.ReadFile)
}

// Usage writes the flags Load accepts, with their defaults and the
// environment variable that sets each one.
func Usage(w io.Writer) {
	flags, _ := newFlagSet(w)
	flags.PrintDefaults()
}

// load is Load with the file system abstracted, so that the fuzz target
// exercises the YAML path without touching the disk.
func load(args []string, getenv func(string) string, readFile func(string) ([]byte, error)) (Config, error) {
	flags, raw := newFlagSet(io.Discard)
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return Config{}, err
		}
		return Config{}, &Error{Source: Source{Kind: SourceFlag}, Reason: err.Error(), Err: err}
	}
	if flags.NArg() > 0 {
		return Config{}, &Error{Source: Source{Kind: SourceFlag}, Reason: fmt.Sprintf("unexpected argument %q", flags.Arg(0))}
	}
	// Only flags given on the command line override; their registered
	// defaults are there for Usage.
	flagged := make(map[string]*rawFlag)
	flags.Visit(func(f *flag.Flag) { flagged[f.Name] = raw[f.Name] })

	cfg := Default()
	sources := make(map[string]Source)
	for _, s := range settings() {
		sources[s.key] = Source{Kind: SourceDefault}
	}

	path, pathSrc := getenv(configEnv), Source{Kind: SourceEnv, Name: configEnv}
	if f, ok := flagged[configFlag]; ok {
		// Even --config "" wins: it is how to ignore PARLEY_CONFIG.
		path, pathSrc = f.value, Source{Kind: SourceFlag, Name: "--" + configFlag}
	}
	if path != "" {
		data, err := readFile(path)
		if err != nil {
			reason := "cannot be read: " + err.Error()
			if errors.Is(err, fs.ErrNotExist) {
				reason = "no such file"
			}
			return Config{}, &Error{Field: configFlag, Value: path, Source: pathSrc, Reason: reason, Err: err}
		}
		if err := decodeFile(data, path, &cfg, sources); err != nil {
			return Config{}, err
		}
		cfg.File = path
	}

	// Environment, then flags: a value that does not parse is reported and
	// the setting keeps its previous value, so that check below still
	// reports problems with the other settings in the same run.
	var errs []*Error
	reported := make(map[string]bool) // settings whose value did not parse
	apply := func(s setting, value string, src Source) {
		if reason := parseInto(s.field(&cfg), value); reason != "" {
			errs = append(errs, &Error{Field: s.key, Value: value, Source: src, Reason: reason})
			reported[s.key] = true
			return
		}
		sources[s.key] = src
	}
	for _, s := range settings() {
		if v := getenv(s.envName()); v != "" {
			apply(s, v, Source{Kind: SourceEnv, Name: s.envName()})
		}
	}
	for _, s := range settings() {
		if f, ok := flagged[s.flagName()]; ok {
			apply(s, f.value, Source{Kind: SourceFlag, Name: "--" + s.flagName()})
		}
	}

	cfg.LogLevel = strings.ToLower(cfg.LogLevel)
	cfg.LogFormat = strings.ToLower(cfg.LogFormat)

	for _, e := range cfg.check() {
		if reported[e.Field] {
			continue
		}
		e.Source = sources[e.Field]
		errs = append(errs, e)
	}
	if len(errs) > 0 {
		return Config{}, joinErrors(errs)
	}
	return cfg, nil
}

// rawFlag records a flag's text; Load parses it with the same code as the
// environment so that both report bad values the same way.
type rawFlag struct {
	value  string
	isBool bool
}

func (f *rawFlag) String() string {
	if f == nil {
		return ""
	}
	return f.value
}

func (f *rawFlag) Set(s string) error { f.value = s; return nil }

// IsBoolFlag lets a boolean setting be given as a bare --flag.
func (f *rawFlag) IsBoolFlag() bool { return f.isBool }

// newFlagSet defines --config and one flag per setting, writing usage and
// parse errors to w.
func newFlagSet(w io.Writer) (*flag.FlagSet, map[string]*rawFlag) {
	set := flag.NewFlagSet("parley", flag.ContinueOnError)
	set.SetOutput(w)
	raw := make(map[string]*rawFlag)

	raw[configFlag] = &rawFlag{}
	set.Var(raw[configFlag], configFlag, "YAML config `file` (env "+configEnv+")")

	def := Default()
	for _, s := range settings() {
		ptr := s.field(&def)
		_, isBool := ptr.(*bool)
		// The value starts as the default so that Usage prints it.
		value := fmt.Sprint(reflect.ValueOf(ptr).Elem().Interface())
		if list, ok := ptr.(*[]string); ok {
			value = strings.Join(*list, ",")
		}
		f := &rawFlag{value: value, isBool: isBool}
		raw[s.flagName()] = f
		set.Var(f, s.flagName(), s.usage+" (env "+s.envName()+")")
	}
	return set, raw
}

// parseInto parses s into the setting ptr points to and returns "" or what
// is allowed.
func parseInto(ptr any, s string) (reason string) {
	switch p := ptr.(type) {
	case *string:
		*p = s
	case *int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return describeType("int64")
		}
		*p = n
	case *int:
		n, err := strconv.Atoi(s)
		if err != nil {
			return describeType("int")
		}
		*p = n
	case *float64:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return describeType("float64")
		}
		*p = f
	case *bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return describeType("bool")
		}
		*p = b
	case *time.Duration:
		d, err := time.ParseDuration(s)
		if err != nil {
			return describeType("time.Duration")
		}
		*p = d
	case *[]string:
		// Comma-separated; blanks around items and empty items dropped.
		var list []string
		for _, item := range strings.Split(s, ",") {
			if item = strings.TrimSpace(item); item != "" {
				list = append(list, item)
			}
		}
		*p = list
	default:
		// A setting was added with a field type this switch does not
		// know; the tests catch it before any user does.
		panic(fmt.Sprintf("config: setting of unsupported type %T", ptr))
	}
	return ""
}

// describeType says what a value of the named Go type looks like, in the
// words of an error message. It takes the type's name rather than a
// reflect.Type because yaml.v3 reports type errors as text.
func describeType(goType string) string {
	switch goType {
	case "string":
		return "must be a string"
	case "bool":
		return "must be true or false"
	case "time.Duration":
		return "must be a duration such as 15s or 1m30s"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "must be a whole number"
	case "float32", "float64":
		return "must be a number"
	}
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "must be a list"
	case strings.HasPrefix(goType, "map["), strings.Contains(goType, "."):
		return "must be a mapping of keys to values"
	}
	return "must be a value of type " + goType
}

// decodeFile decodes a YAML config file over cfg and records in sources
// which settings it set. Unknown keys are errors (KnownFields), because a
// misspelt key silently ignored is a setting silently left at its default.
func decodeFile(data []byte, path string, cfg *Config, sources map[string]Source) error {
	fileSrc := Source{Kind: SourceFile, Name: path}

	// Parse once into a node tree to know which key sits on which line:
	// yaml.v3 reports type errors as "line N: ..." text, and an operator
	// wants to hear "max_body_bytes" rather than "int64".
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return &Error{Source: fileSrc, Reason: "not valid YAML: " + strings.TrimPrefix(err.Error(), "yaml: "), Err: err}
	}
	keys := indexKeys(&doc, "", nil)

	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return &Error{Source: fileSrc, Reason: "not valid YAML: " + strings.TrimPrefix(err.Error(), "yaml: "), Err: err}
		}
		errs := make([]*Error, 0, len(te.Errors))
		for _, msg := range te.Errors {
			e := typeError(msg, keys, fileSrc)
			e.Err = err
			errs = append(errs, e)
		}
		return joinErrors(errs)
	}
	// A second document would be ignored by Decode; refuse it instead of
	// guessing which one the operator meant.
	if err := dec.Decode(new(yaml.Node)); !errors.Is(err, io.EOF) {
		return &Error{Source: fileSrc, Reason: "holds more than one YAML document; keep one", Err: err}
	}

	for _, k := range keys {
		sources[k.path] = Source{Kind: SourceFile, Name: path, Line: k.line}
	}
	return nil
}

// yamlKey is one mapping key in the file.
type yamlKey struct {
	path  string // "listen", "oidc.issuer", "rules[0].name"
	name  string // the key itself
	line  int
	value *yaml.Node
}

// indexKeys lists every mapping key under n. Aliases are not followed:
// the decoder resolves them, and following them here could loop or blow
// up on a hostile file.
func indexKeys(n *yaml.Node, prefix string, out []yamlKey) []yamlKey {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			out = indexKeys(c, prefix, out)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if prefix != "" {
				p = prefix + "." + k.Value
			}
			out = append(out, yamlKey{path: p, name: k.Value, line: k.Line, value: v})
			out = indexKeys(v, p, out)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			out = indexKeys(c, prefix+"["+strconv.Itoa(i)+"]", out)
		}
	}
	return out
}

var (
	reUnknownKey = regexp.MustCompile(`^line (\d+): field (.*) not found in type \S+$`)
	reBadValue   = regexp.MustCompile("^line (\\d+): cannot unmarshal (\\S+)(?: `(.*)`)? into (\\S+)$")
	reLine       = regexp.MustCompile(`^line (\d+): (.*)$`)
	reIndex      = regexp.MustCompile(`\[\d+\]`)
)

// typeError turns one of yaml.v3's type error messages into an *Error
// naming the key. Messages it does not recognise are kept as they are.
func typeError(msg string, keys []yamlKey, src Source) *Error {
	if m := reUnknownKey.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		src.Line = line
		path := m[2]
		for _, k := range keys {
			if k.line == line && k.name == m[2] {
				path = k.path
				break
			}
		}
		reason := fmt.Sprintf("unknown key %q", path)
		parent := ""
		if i := strings.LastIndex(path, "."); i >= 0 {
			parent = path[:i]
		}
		if known := knownKeys(parent); len(known) > 0 {
			where := ""
			if parent != "" {
				where = " under " + parent
			}
			reason += fmt.Sprintf(" (known keys%s: %s)", where, strings.Join(known, ", "))
		}
		return &Error{Value: path, Source: src, Reason: reason}
	}
	if m := reBadValue.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		src.Line = line
		tag, snippet, goType := m[2], strings.TrimSuffix(m[3], "..."), m[4]
		// Several keys can share a line ({a: 1, b: [x]}); the one meant
		// has the reported tag and starts with the quoted value.
		for _, k := range keys {
			v := k.value
			if v.Line == line && v.ShortTag() == tag && strings.HasPrefix(v.Value, snippet) {
				return &Error{Field: k.path, Value: v.Value, Source: src, Reason: describeType(goType)}
			}
		}
		return &Error{Source: src, Reason: "the document " + describeType(goType)}
	}
	if m := reLine.FindStringSubmatch(msg); m != nil {
		src.Line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	return &Error{Source: src, Reason: msg}
}

// knownKeys lists the YAML keys accepted under parent ("" for the top
// level), for suggesting what a misspelt key should have been.
func knownKeys(parent string) []string {
	t := reflect.TypeFor[Config]()
	if parent != "" {
		for _, seg := range strings.Split(reIndex.ReplaceAllString(parent, ""), ".") {
			ft, ok := yamlFields(t)[seg]
			if !ok {
				return nil
			}
			if t = structOf(ft); t == nil {
				return nil
			}
		}
	}
	var names []string
	for name := range yamlFields(t) {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// yamlFields maps the keys a struct accepts in YAML to their types,
// following yaml.v3's rules: the tag's name, else the lowercased field
// name; "-" and unexported fields skipped; ",inline" structs flattened.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := make(map[string]reflect.Type)
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			if st := structOf(f.Type); st != nil {
				for k, v := range yamlFields(st) {
					out[k] = v
				}
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

// structOf returns the struct type t holds (through pointers, slices and
// maps), or nil.
func structOf(t reflect.Type) reflect.Type {
	for {
		switch t.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
			t = t.Elem()
		case reflect.Struct:
			return t
		default:
			return nil
		}
	}
}
