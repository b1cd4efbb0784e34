package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/motesvakt/motesvakt/backend"
	"github.com/motesvakt/motesvakt/classifiers"
	"github.com/motesvakt/motesvakt/locales"
)

func init() { extraCommands["classify"] = cmdClassify }

// cmdClassify reads one event JSON on stdin and prints the classification;
// --batch reads and writes JSON Lines, one result or error object per line.
func cmdClassify(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("classify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rulesDir := fs.String("rules", "", "directory of rule packs (YAML, the format of classifiers/packs); default: the embedded packs")
	batch := fs.Bool("batch", false, "JSON Lines in and out: one result (or error object) per input line, in order")
	cfg, err := LoadConfig(fs, args, getenv)
	if err != nil {
		return err
	}
	lang := locales.Lang(cfg.Lang)
	policy, err := classifiers.DefaultPolicy(backend.ParseDomains(cfg.InternalDomains)...)
	if err != nil {
		return err
	}
	if *rulesDir != "" {
		if policy.Packs, err = classifiers.LoadPacks(*rulesDir); err != nil {
			return fmt.Errorf("--rules %s: %w", *rulesDir, err)
		}
	}
	eng, err := classifiers.Compile(policy)
	if err != nil {
		return describePolicyError(err, lang)
	}
	failed, err := classifiers.RunJSON(stdin, stdout, eng, lang, *batch)
	if err != nil {
		if _, ok := err.(*classifiers.InputError); ok || !*batch {
			code, msg := classifiers.Describe(err, lang)
			fmt.Fprintf(stderr, "motesvakt classify: %s (%s)\n", msg, code)
			return exitCode(1)
		}
		return err
	}
	if failed > 0 {
		fmt.Fprintf(stderr, "motesvakt classify: %d of the input lines were rejected\n", failed)
		return exitCode(1)
	}
	return nil
}

func describePolicyError(err error, lang locales.Lang) error {
	if ve, ok := err.(*classifiers.ValidationError); ok {
		var b strings.Builder
		for _, p := range ve.Problems {
			b.WriteString("\n  " + p.Message(lang))
		}
		return fmt.Errorf("the rule packs are invalid:%s", b.String())
	}
	return err
}
