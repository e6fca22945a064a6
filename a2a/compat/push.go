package compat

import (
	"encoding/json"
	"slices"
	"strings"
	"unicode"
)

// Finding push-notification callbacks in a raw JSON-RPC request, for the
// relay, which checks every callback URL against its guard before
// forwarding a request to an agent. a2a-go v2.4.0 guards only the calls
// its own push sender makes (push.NewHTTPPushSender refuses private
// addresses when it posts): that protects an agent built on it, not a
// relayed agent of any make, which calls the URL from its own network
// with whatever it trusts. And the relay has no typed request to read
// the URLs from: it forwards JSON (see rpc.go).

// PushNotificationURLs lists the push-notification callback URLs a
// JSON-RPC request (the whole request object, of either version) asks
// the server to call: in 0.3 tasks/pushNotificationConfig/set
// (params.pushNotificationConfig.url), message/send and message/stream
// (params.configuration.pushNotificationConfig.url); in 1.0
// CreateTaskPushNotificationConfig (params.url, flat) and SendMessage /
// SendStreamingMessage (params.configuration.taskPushNotificationConfig.url).
//
// Servers disagree on how strictly they read member names (Go's
// encoding/json ignores case, Unicode folding included, so "PARAMS" and
// "puſh…" match too; proto-JSON takes snake_case), so the search is
// deliberately wide: every "url" member, in any case or spelling,
// anywhere under a member whose name mentions "push", and anywhere in a
// request whose method (under any spelling of "method") does. A url that
// is not a string is listed as its JSON text, so that it is refused
// rather than passed on unchecked. The list is sorted, without
// duplicates.
func PushNotificationURLs(request any) []string {
	var urls []string
	pushMethod := false
	if o, ok := request.(map[string]any); ok {
		for k, v := range o {
			if m, ok := v.(string); ok && normKey(k) == keyMethod && strings.Contains(normKey(m), keyPush) {
				pushMethod = true
			}
		}
	}
	if pushMethod {
		collectURLs(request, &urls)
	} else {
		findPushConfigs(request, &urls)
	}
	slices.Sort(urls)
	return slices.Compact(urls)
}

var (
	keyMethod = normKey("method")
	keyPush   = normKey("push")
	keyURL    = normKey("url")
)

// normKey folds a member name the ways servers read it: case (with
// Unicode's simple folding, as encoding/json matches names) and
// underscores do not matter.
func normKey(k string) string {
	var b strings.Builder
	for _, r := range k {
		if r == '_' {
			continue
		}
		// The smallest rune of r's folding orbit stands for all of it.
		m := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			m = min(m, f)
		}
		b.WriteRune(m)
	}
	return b.String()
}

func findPushConfigs(v any, urls *[]string) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if strings.Contains(normKey(k), keyPush) {
				collectURLs(x, urls)
			} else {
				findPushConfigs(x, urls)
			}
		}
	case []any:
		for _, x := range v {
			findPushConfigs(x, urls)
		}
	}
}

func collectURLs(v any, urls *[]string) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if normKey(k) == keyURL && x != nil {
				if s, ok := x.(string); ok {
					*urls = append(*urls, s)
				} else if b, err := json.Marshal(x); err == nil {
					*urls = append(*urls, string(b))
				}
				continue
			}
			collectURLs(x, urls)
		}
	case []any:
		for _, x := range v {
			collectURLs(x, urls)
		}
	}
}
