// Command cfgfield prints one field of a dagster-dev config, resolved with
// the defaults dagster-dev itself applies, for shell scripts (the up
// benchmark) that must not re-implement config parsing.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/dagster-dev/dagster-dev/config"
)

func main() {
	path := flag.String("config", "", "dagster-dev config file")
	field := flag.String("field", "", "nodeImage | images | namespace | release | hostPort | nodePort | clusterName")
	flag.Parse()
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	switch *field {
	case "nodeImage":
		fmt.Println(cfg.Cluster.NodeImage)
	case "images":
		fmt.Println(strings.Join(cfg.Images, "\n"))
	case "namespace":
		fmt.Println(cfg.Namespace)
	case "release":
		fmt.Println(cfg.Release)
	case "hostPort":
		fmt.Println(cfg.Dagit.HostPort)
	case "nodePort":
		fmt.Println(cfg.Dagit.NodePort)
	case "clusterName":
		fmt.Println(cfg.Cluster.Name)
	default:
		fmt.Fprintf(os.Stderr, "unknown field %q\n", *field)
		os.Exit(2)
	}
}
