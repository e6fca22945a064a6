package compat_test

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/a2aclient"
	"github.com/a2aproject/a2a-go/a2asrv"

	"github.com/parleyhq/parley/a2a/compat"
)

// Serving one a2a-go JSON-RPC endpoint to A2A 1.0 and 0.3 callers, with a
// card both generations read.
func Example_server() {
	var handler a2asrv.RequestHandler // a2asrv.NewHandler(executor, ...)
	card := &a2a.AgentCard{Name: "parley", URL: "https://parley.example.com/a2a", ProtocolVersion: "0.3.0",
		PreferredTransport: a2a.TransportProtocolJSONRPC}
	raw, _ := json.Marshal(card)
	ifaces := compat.InterfacesFor("https://parley.example.com/a2a", compat.BindingJSONRPC, compat.V10, compat.V03)
	both, _ := compat.CardWith10(raw, ifaces)

	mux := http.NewServeMux()
	mux.HandleFunc(a2asrv.WellKnownAgentCardPath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(both)
	})
	mux.Handle("/a2a", compat.Middleware(a2asrv.NewJSONRPCHandler(handler)))

	got, _ := compat.CardInterfaces(both)
	for _, i := range got {
		fmt.Println(i.ProtocolBinding, i.ProtocolVersion, i.URL)
	}
	// Output:
	// JSONRPC 1.0 https://parley.example.com/a2a
	// JSONRPC 0.3 https://parley.example.com/a2a
}

// Calling an agent that speaks only A2A 1.0 with a2a-go's 0.3 client.
func ExampleNewTransport10() {
	card10 := []byte(`{"name":"js-agent","supportedInterfaces":[{"url":"https://agent.example.com/a2a","protocolBinding":"JSONRPC","protocolVersion":"1.0"}]}`)
	ifaces, _ := compat.CardInterfaces(card10)
	if _, ok := compat.SelectInterface(ifaces, compat.BindingJSONRPC, compat.V03); !ok {
		if i, ok := compat.SelectInterface(ifaces, compat.BindingJSONRPC, compat.V10); ok {
			httpClient := &http.Client{Transport: compat.NewTransport10(nil)}
			_ = []a2aclient.FactoryOption{a2aclient.WithJSONRPCTransport(httpClient)}
			fmt.Println("1.0 only: translate calls to", i.URL)
		}
	}
	// Output: 1.0 only: translate calls to https://agent.example.com/a2a
}
