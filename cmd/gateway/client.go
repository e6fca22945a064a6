package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/parleyhq/parley/hostclient"
)

const defaultClientURL = "http://127.0.0.1:8080/mcp"

// clientCmd is "gateway client", an MCP host client for people and
// scripts (the logic lives in package hostclient):
//
//	gateway client [flags]                    interactive prompt
//	gateway client [flags] call NAME [JSON]   one tool call, result as JSON
//	gateway client [flags] clean-state        forget the saved session
//
// Flags may come before or after the subcommand.
func clientCmd(ctx context.Context, e env, args []string) int {
	fs := flag.NewFlagSet("gateway client", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	url := fs.String("url", "", "MCP endpoint (env PARLEY_URL; default "+defaultClientURL+")")
	token := fs.String("token", "", "bearer token sent on every request (env PARLEY_TOKEN)")
	defaultState, _ := hostclient.DefaultStatePath(e.getenv)
	state := fs.String("state", defaultState, "state file keeping the session for the next run (\"\" for none)")
	samplingReply := fs.String("sampling-reply", "", "answer sampling requests with this text instead of asking")
	protocol := fs.String("protocol-version", "", "protocol version to ask for, e.g. 2025-11-25 (default: negotiate)")

	pos, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		clientUsage(e.stdout, fs)
		return exitOK
	}
	if err != nil {
		return clientUsageError(e, fs, err.Error())
	}
	if *url == "" {
		*url = e.getenv("PARLEY_URL")
	}
	if *url == "" {
		*url = defaultClientURL
	}
	if *token == "" {
		// Not a flag default: "-h" would print it.
		*token = e.getenv("PARLEY_TOKEN")
	}

	opts := hostclient.Options{
		URL:             *url,
		Token:           *token,
		ProtocolVersion: *protocol,
		SamplingReply:   *samplingReply,
		StatePath:       *state,
		In:              e.stdin,
		Out:             e.stdout,
		Err:             e.stderr,
		ClientVersion:   resolveVersion(),
	}
	var sub string
	if len(pos) > 0 {
		sub, pos = pos[0], pos[1:]
	}
	switch sub {
	case "", "call", "clean-state":
	default:
		return clientUsageError(e, fs, fmt.Sprintf("unknown client command %q", sub))
	}
	if sub == "call" && (len(pos) < 1 || len(pos) > 2) {
		return clientUsageError(e, fs, "usage: gateway client call NAME ['{json}']")
	}
	if sub != "call" && len(pos) > 0 {
		return clientUsageError(e, fs, fmt.Sprintf("unexpected argument %q", pos[0]))
	}
	c, err := hostclient.New(opts)
	if err != nil {
		return clientUsageError(e, fs, err.Error())
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop) // a second Ctrl-C kills at once

	switch sub {
	case "clean-state":
		if *state == "" {
			return clientUsageError(e, fs, "no state file (set --state)")
		}
		id, err := c.CleanState(ctx)
		switch {
		case err != nil:
			fmt.Fprintf(e.stderr, "gateway client: %v\n", err)
			return exitFailure
		case id != "":
			fmt.Fprintf(e.stdout, "forgot session %s (%s)\n", id, *state)
		default:
			fmt.Fprintf(e.stdout, "no saved session (%s)\n", *state)
		}
		return exitOK

	case "call":
		var args string
		if len(pos) == 2 {
			args = pos[1]
		}
		raw, err := hostclient.CheckArguments(args)
		if err != nil {
			return clientUsageError(e, fs, err.Error())
		}
		err = c.Call(ctx, pos[0], raw)
		switch {
		case err == nil:
			return exitOK
		case errors.Is(err, hostclient.ErrToolError):
			return exitFailure // the result is on stderr already
		default:
			fmt.Fprintf(e.stderr, "gateway client: %v\n", err)
			return exitFailure
		}

	default:
		if err := c.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			fmt.Fprintf(e.stderr, "gateway client: %v\n", err)
			return exitFailure
		}
		return exitOK
	}
}

// parseInterleaved parses flags anywhere among the arguments, returning
// the others in order. Everything after "--" is an argument.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for len(args) > 0 {
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			// Parse stopped at a "--" it consumed: the rest are all
			// arguments, flag-like or not ("-- /data --read-only").
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			break
		}
		if rest[0] != "-" && strings.HasPrefix(rest[0], "-") {
			// Parse only leaves a flag-like argument after a "--" it
			// consumed: the rest are all arguments.
			return append(pos, rest...), nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
	return pos, nil
}

func clientUsageError(e env, fs *flag.FlagSet, msg string) int {
	fmt.Fprintf(e.stderr, "gateway client: %s\n\n", msg)
	clientUsage(e.stderr, fs)
	return exitUsage
}

func clientUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprint(w, `Usage:
  gateway client [flags]                    interactive prompt (type "help" there)
  gateway client [flags] call NAME ['{json}']
                                            call one tool and print the result as JSON;
                                            exit status 1 on a tool error
  gateway client [flags] clean-state        forget the saved session

The prompt prints progress and log messages as they arrive, asks the
server's questions (elicitation) and sampling requests at the terminal, and
keeps its session in the state file so that a restarted client resumes it.
In "call", the server's questions are answered from stdin, one line each
(pipe the answers in, or type them); at the end of stdin an elicitation is
cancelled and a sampling request refused.

Flags:
`)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}
