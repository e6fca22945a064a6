package config_test

import (
	"fmt"

	"github.com/parleyhq/parley/config"
)

func ExampleLoad() {
	getenv := func(name string) string {
		return map[string]string{"PARLEY_STORE": "postgres://parley:secret@db:5432/parley"}[name]
	}
	cfg, err := config.Load([]string{"--listen", "127.0.0.1:0"}, getenv)
	if err != nil {
		fmt.Println(err)
		return
	}
	kind, _ := cfg.StoreBackend()
	fmt.Println(cfg.Listen, kind)
	// Output: 127.0.0.1:0 postgres
}

func ExampleLoad_invalid() {
	getenv := func(name string) string {
		return map[string]string{"PARLEY_STORE": "mysql://x"}[name]
	}
	_, err := config.Load(nil, getenv)
	fmt.Println(err)
	// Output: invalid config: store "mysql://x" (from PARLEY_STORE): must be sqlite://PATH or postgres://USER:PASSWORD@HOST:PORT/DATABASE (postgresql:// is accepted too)
}
