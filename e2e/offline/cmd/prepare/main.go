// Command prepare builds (or reuses from its cache) everything the offline
// harness needs in the local Docker engine. Run it through e2e/offline/prepare.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/dagster-dev/dagster-dev/e2e/offline/harness"
)

func main() {
	defCache, err := harness.DefaultCacheDir()
	if err != nil {
		fmt.Fprintln(os.Stderr, "prepare:", err)
		os.Exit(2)
	}
	repo := flag.String("repo", "", "dagster-dev checkout (default: found from the working directory)")
	cache := flag.String("cache", defCache, "cache directory")
	only := flag.String("only", "", "comma-separated subset of: tools,node,dagster,postgres,rabbitmq,busybox (default all)")
	force := flag.Bool("force", false, "rebuild the images even if Docker or the cache has them")
	flag.Parse()

	if *repo == "" {
		r, err := findRepo()
		if err != nil {
			fmt.Fprintln(os.Stderr, "prepare:", err)
			os.Exit(2)
		}
		*repo = r
	}
	var onlyList []string
	if *only != "" {
		onlyList = strings.Split(*only, ",")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	err = harness.Prepare(ctx, harness.Options{RepoRoot: *repo, CacheDir: *cache, Out: os.Stdout, Only: onlyList, Force: *force})
	if err != nil {
		fmt.Fprintf(os.Stderr, "\nprepare: FAILED after %s\n%v\n", harness.FormatDuration(time.Since(start)), err)
		var se *harness.StepError
		if !errors.As(err, &se) {
			fmt.Fprintln(os.Stderr, "what to do: see the message above")
		}
		os.Exit(1)
	}
	fmt.Printf("prepare: done in %s\n", harness.FormatDuration(time.Since(start)))
}

// findRepo walks up from the working directory to the dagster-dev go.mod.
func findRepo() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil &&
			strings.Contains(string(b), "module github.com/dagster-dev/dagster-dev\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside a dagster-dev checkout; pass -repo")
		}
		dir = parent
	}
}
