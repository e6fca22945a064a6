package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

func printVersion(_ context.Context, e env, args []string) int {
	if len(args) > 0 {
		fmt.Fprintln(e.stderr, "usage: gateway version")
		return exitUsage
	}
	fmt.Fprintf(e.stdout, "parley %s %s %s/%s\n", resolveVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return exitOK
}

// resolveVersion prefers the stamped version, then the module version the
// go command recorded (set for "go install module@version"), then "dev".
func resolveVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
