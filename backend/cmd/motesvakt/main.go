// Command motesvakt is Mötesvakt's single binary: the HTTP service with its
// embedded SFU, and the admin tools. This package only parses configuration
// and wires the parts together.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Version is set at build time with -ldflags "-X main.Version=…".
var Version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

const usage = `Mötesvakt – secure meetings, booked as usual

Usage:
  motesvakt serve    [flags]   run the service (HTTP, SFU, mail, retention)
  motesvakt classify [flags]   classify one event JSON from stdin (--batch: JSON Lines)
  motesvakt audit verify       verify the audit chain; non-zero exit names the first bad entry
  motesvakt audit export       write the audit log as JSON Lines to stdout
  motesvakt recording decrypt  decrypt a recording to stdout (admins with the key)
  motesvakt version            print the version

Every subcommand accepts --config FILE and --data DIR. Run "motesvakt serve -h" for all flags.
`

// run is main without process globals, so tests drive every subcommand.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	var err error
	switch cmd {
	case "serve":
		err = cmdServe(ctx, rest, stdout, stderr, getenv)
	case "version", "--version", "-v":
		fmt.Fprintf(stdout, "motesvakt %s\n", Version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		if c, ok := extraCommands[cmd]; ok {
			err = c(ctx, rest, stdin, stdout, stderr, getenv)
			break
		}
		fmt.Fprintf(stderr, "motesvakt: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if err != nil {
		if ec, ok := err.(exitCode); ok {
			return int(ec)
		}
		fmt.Fprintf(stderr, "motesvakt %s: %v\n", cmd, err)
		return 1
	}
	return 0
}

// exitCode is returned by commands that already printed their message.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit %d", int(e)) }

type command func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error

// extraCommands are registered by the files that implement them.
var extraCommands = map[string]command{}
