// compose-check loads Compose files the way `docker compose config` does, through the Compose
// Specification's reference loader: schema validation, interpolation, normalisation and the consistency
// check (every referenced service, network, volume, secret and config exists). Variables come from the
// env files only, never from the caller's environment, so the result is the same on every machine.
//
// On success it prints the resolved project as JSON and exits 0; on any error it prints one line,
// `compose-check: <error>`, to stderr and exits 1. The loader's warnings go to stderr as
// `compose-check: warning: <message>` and do not change the exit status.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/sirupsen/logrus"
)

const usage = "usage: compose-check [--env-file FILE]... [--project-directory DIR] COMPOSE_FILE..."

type fileList []string

func (f *fileList) String() string     { return strings.Join(*f, ",") }
func (f *fileList) Set(v string) error { *f = append(*f, v); return nil }

type warningFormatter struct{}

func (warningFormatter) Format(e *logrus.Entry) ([]byte, error) {
	return fmt.Appendf(nil, "compose-check: %s: %s\n", e.Level, e.Message), nil
}

func main() {
	logrus.SetFormatter(warningFormatter{})
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "compose-check: %s\n", strings.Join(strings.Fields(err.Error()), " "))
		os.Exit(1)
	}
}

func run(args []string) error {
	var envFiles fileList
	flags := flag.NewFlagSet("compose-check", flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	flags.Var(&envFiles, "env-file", "env file for interpolation (repeatable; default: .env in the project directory)")
	projectDir := flags.String("project-directory", "", "project directory (default: the first compose file's folder)")
	if err := flags.Parse(args); err != nil {
		return fmt.Errorf("%w; %s", err, usage)
	}
	if flags.NArg() == 0 {
		return errors.New("no compose file given; " + usage)
	}

	options, err := cli.NewProjectOptions(flags.Args(),
		cli.WithWorkingDirectory(*projectDir),
		cli.WithEnvFiles(envFiles...),
		cli.WithDotEnv,
	)
	if err != nil {
		return err
	}
	project, err := options.LoadProject(context.Background())
	if err != nil {
		return err
	}
	out, err := project.MarshalJSON()
	if err != nil {
		return err
	}
	_, err = fmt.Println(string(out))
	return err
}
