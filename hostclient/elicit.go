package hostclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Model names reported in sampling results.
const (
	ModelScripted = "parley-client/scripted" // the --sampling-reply text
	ModelHuman    = "human"                  // typed by the person
)

// errInputClosed is returned when a question cannot be answered because
// the input has ended.
var errInputClosed = errors.New("no answer: input closed")

// ask prints prompt and returns the next line of input, before the
// prompt loop gets it.
func (c *Client) ask(ctx context.Context, prompt string) (string, error) {
	fmt.Fprint(c.ui, prompt)
	line, err := c.in.next(ctx, true)
	if errors.Is(err, io.EOF) {
		fmt.Fprintln(c.ui)
		return "", errInputClosed
	}
	return strings.TrimSpace(line), err
}

// elicit answers elicitation/create (sent directly by a session-based
// server, or as an input request of a multi round-trip result) by asking
// the person at the terminal.
func (c *Client) elicit(ctx context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
	// Input requests of one result are fulfilled concurrently: ask one
	// form at a time.
	c.promptMu.Lock()
	defer c.promptMu.Unlock()

	p := req.Params
	fmt.Fprintf(c.ui, "[elicit] %s\n", p.Message)
	var content map[string]any
	switch p.Mode {
	case "url":
		fmt.Fprintf(c.ui, "  open this address to continue: %s\n", p.URL)
	default:
		form, err := parseForm(p.RequestedSchema)
		if err != nil {
			return nil, err
		}
		content, err = c.askForm(ctx, form)
		if errors.Is(err, errInputClosed) {
			return &mcp.ElicitResult{Action: "cancel"}, nil
		}
		if err != nil {
			return nil, err
		}
	}
	action, err := c.askAction(ctx)
	if errors.Is(err, errInputClosed) {
		return &mcp.ElicitResult{Action: "cancel"}, nil
	}
	if err != nil {
		return nil, err
	}
	if action != "accept" {
		return &mcp.ElicitResult{Action: action}, nil
	}
	if content == nil && p.Mode != "url" {
		content = map[string]any{}
	}
	return &mcp.ElicitResult{Action: action, Content: content}, nil
}

func (c *Client) askAction(ctx context.Context) (string, error) {
	for {
		line, err := c.ask(ctx, "accept / decline / cancel? ")
		if err != nil {
			return "", err
		}
		switch strings.ToLower(line) {
		case "a", "accept":
			return "accept", nil
		case "d", "decline":
			return "decline", nil
		case "c", "cancel":
			return "cancel", nil
		}
		fmt.Fprintln(c.ui, "  answer accept, decline or cancel (a, d, c)")
	}
}

// askForm asks for each property of a form, in name order, and returns
// the content with JSON types that match the schema.
func (c *Client) askForm(ctx context.Context, form *formSchema) (map[string]any, error) {
	content := map[string]any{}
	names := make([]string, 0, len(form.Properties))
	for name := range form.Properties {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		prop := form.Properties[name]
		required := slices.Contains(form.Required, name)
		for {
			line, err := c.ask(ctx, prop.prompt(name, required))
			if err != nil {
				return nil, err
			}
			v, ok, err := prop.parse(line, required)
			if err != nil {
				fmt.Fprintf(c.ui, "  %v\n", err)
				continue
			}
			if ok {
				content[name] = v
			}
			break
		}
	}
	return content, nil
}

// formSchema is the restricted JSON schema of a form elicitation: a flat
// object of primitive properties.
type formSchema struct {
	Properties map[string]*propSchema `json:"properties"`
	Required   []string               `json:"required"`
}

type propSchema struct {
	Type        any             `json:"type"` // a name, or a list of names
	Title       string          `json:"title"`
	Description string          `json:"description"`
	Default     json.RawMessage `json:"default"`
	Enum        []any           `json:"enum"`
	EnumNames   []string        `json:"enumNames"`
	OneOf       []constOption   `json:"oneOf"`
	AnyOf       []constOption   `json:"anyOf"`
	Items       *propSchema     `json:"items"`
	Format      string          `json:"format"`
	Minimum     *float64        `json:"minimum"`
	Maximum     *float64        `json:"maximum"`
	MinLength   *int            `json:"minLength"`
	MaxLength   *int            `json:"maxLength"`
	MinItems    *int            `json:"minItems"`
	MaxItems    *int            `json:"maxItems"`
}

type constOption struct {
	Const any    `json:"const"`
	Title string `json:"title"`
}

func parseForm(schema any) (*formSchema, error) {
	form := &formSchema{}
	if schema == nil {
		return form, nil
	}
	data, err := json.Marshal(schema)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, form); err != nil {
		return nil, fmt.Errorf("elicitation schema: %w", err)
	}
	for name, p := range form.Properties {
		if p == nil {
			form.Properties[name] = &propSchema{}
		}
	}
	return form, nil
}

// typeName is the property's JSON type ("string" when unsaid).
func (p *propSchema) typeName() string {
	switch t := p.Type.(type) {
	case string:
		return t
	case []any:
		for _, x := range t {
			if s, ok := x.(string); ok && s != "null" {
				return s
			}
		}
	}
	return "string"
}

// options are the allowed values and their labels, from enum (with
// enumNames) or oneOf/anyOf consts.
func (p *propSchema) options() (values []any, labels []string) {
	if len(p.Enum) > 0 {
		for i, v := range p.Enum {
			label := ""
			if i < len(p.EnumNames) {
				label = p.EnumNames[i]
			}
			values, labels = append(values, v), append(labels, label)
		}
		return values, labels
	}
	for _, o := range append(slices.Clip(p.OneOf), p.AnyOf...) {
		values, labels = append(values, o.Const), append(labels, o.Title)
	}
	return values, labels
}

// prompt is the question for one property, e.g.
//
//	confirm (boolean, required) Confirm the escalation [default: false]:
func (p *propSchema) prompt(name string, required bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  %s (%s", name, p.typeName())
	choices := p
	if p.typeName() == "array" && p.Items != nil {
		choices = p.Items
		b.WriteString(", comma-separated")
	}
	if values, labels := choices.options(); len(values) > 0 {
		parts := make([]string, len(values))
		for i, v := range values {
			parts[i] = fmt.Sprint(v)
			if labels[i] != "" {
				parts[i] += "=" + labels[i]
			}
		}
		fmt.Fprintf(&b, ", one of: %s", strings.Join(parts, " | "))
	}
	if p.Format != "" {
		fmt.Fprintf(&b, ", %s", p.Format)
	}
	if required {
		b.WriteString(", required")
	}
	b.WriteString(")")
	if p.Title != "" {
		fmt.Fprintf(&b, " %s", p.Title)
	}
	if p.Description != "" && p.Description != p.Title {
		fmt.Fprintf(&b, " - %s", p.Description)
	}
	if len(p.Default) > 0 {
		fmt.Fprintf(&b, " [default: %s]", p.Default)
	}
	b.WriteString(": ")
	return b.String()
}

// parse turns a typed answer into a value of the property's JSON type.
// ok is false when the answer is empty and the property may be left out.
func (p *propSchema) parse(input string, required bool) (v any, ok bool, err error) {
	if input == "" {
		if len(p.Default) > 0 {
			if err := json.Unmarshal(p.Default, &v); err != nil {
				return nil, false, fmt.Errorf("bad default %s: %v", p.Default, err)
			}
			return v, true, nil
		}
		if required {
			return nil, false, errors.New("a value is required")
		}
		return nil, false, nil // left out
	}
	switch p.typeName() {
	case "boolean":
		switch strings.ToLower(input) {
		case "y", "yes", "true", "t", "1", "on":
			return true, true, nil
		case "n", "no", "false", "f", "0", "off":
			return false, true, nil
		}
		return nil, false, errors.New("answer yes or no")
	case "integer":
		n, err := strconv.ParseInt(input, 10, 64)
		if err != nil {
			return nil, false, errors.New("a whole number is required")
		}
		if err := p.checkRange(float64(n)); err != nil {
			return nil, false, err
		}
		return n, true, nil
	case "number":
		f, err := strconv.ParseFloat(input, 64)
		if err != nil {
			return nil, false, errors.New("a number is required")
		}
		if err := p.checkRange(f); err != nil {
			return nil, false, err
		}
		return f, true, nil
	case "array":
		items := p.Items
		if items == nil {
			items = &propSchema{Type: "string"}
		}
		var list []any
		for part := range strings.SplitSeq(input, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			v, _, err := items.parse(part, true)
			if err != nil {
				return nil, false, fmt.Errorf("%q: %v", part, err)
			}
			list = append(list, v)
		}
		if p.MinItems != nil && len(list) < *p.MinItems {
			return nil, false, fmt.Errorf("choose at least %d", *p.MinItems)
		}
		if p.MaxItems != nil && len(list) > *p.MaxItems {
			return nil, false, fmt.Errorf("choose at most %d", *p.MaxItems)
		}
		return list, true, nil
	default: // string
		if values, _ := p.options(); len(values) > 0 {
			for _, v := range values {
				if fmt.Sprint(v) == input {
					return v, true, nil
				}
			}
			return nil, false, fmt.Errorf("choose one of the listed values")
		}
		n := utf8.RuneCountInString(input)
		if p.MinLength != nil && n < *p.MinLength {
			return nil, false, fmt.Errorf("at least %d characters", *p.MinLength)
		}
		if p.MaxLength != nil && n > *p.MaxLength {
			return nil, false, fmt.Errorf("at most %d characters", *p.MaxLength)
		}
		return input, true, nil
	}
}

func (p *propSchema) checkRange(f float64) error {
	if p.Minimum != nil && f < *p.Minimum {
		return fmt.Errorf("at least %v", *p.Minimum)
	}
	if p.Maximum != nil && f > *p.Maximum {
		return fmt.Errorf("at most %v", *p.Maximum)
	}
	return nil
}

// sample answers sampling/createMessage: with the scripted reply when one
// is configured, otherwise by asking the person to write it.
func (c *Client) sample(ctx context.Context, req *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
	c.promptMu.Lock()
	defer c.promptMu.Unlock()

	p := req.Params
	fmt.Fprintf(c.ui, "[sampling] the server asks for a model reply (at most %d tokens)\n", p.MaxTokens)
	if p.SystemPrompt != "" {
		fmt.Fprintf(c.ui, "  system: %s\n", p.SystemPrompt)
	}
	for _, m := range p.Messages {
		fmt.Fprintf(c.ui, "  %s: %s\n", m.Role, contentText(m.Content))
	}
	if c.opts.SamplingReply != "" {
		fmt.Fprintf(c.ui, "  replied with --sampling-reply: %s\n", c.opts.SamplingReply)
		return samplingResult(c.opts.SamplingReply, ModelScripted), nil
	}
	for {
		line, err := c.ask(ctx, "reply (one line; /decline to refuse)> ")
		if err != nil {
			return nil, err
		}
		if line == "/decline" {
			return nil, errors.New("the user declined the sampling request")
		}
		if line != "" {
			return samplingResult(line, ModelHuman), nil
		}
	}
}

func samplingResult(text, model string) *mcp.CreateMessageResult {
	return &mcp.CreateMessageResult{
		Content:    &mcp.TextContent{Text: text},
		Model:      model,
		Role:       "assistant",
		StopReason: "endTurn",
	}
}

// contentText is a one-line rendering of a content block.
func contentText(c mcp.Content) string {
	switch c := c.(type) {
	case *mcp.TextContent:
		return c.Text
	case *mcp.ImageContent:
		return fmt.Sprintf("[image %s, %d bytes]", c.MIMEType, len(c.Data))
	case *mcp.AudioContent:
		return fmt.Sprintf("[audio %s, %d bytes]", c.MIMEType, len(c.Data))
	case *mcp.ResourceLink:
		return "→ " + c.URI
	case *mcp.EmbeddedResource:
		if c.Resource != nil {
			return "[resource " + c.Resource.URI + "]"
		}
	case nil:
		return ""
	}
	data, _ := json.Marshal(c)
	return string(data)
}
