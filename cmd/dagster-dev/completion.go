package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
)

// The scripts ask dagster-dev itself for the candidates (urfave/cli's
// --generate-bash-completion protocol: the words so far, the word being
// completed, then the flag), so commands, flags, components and code
// location names stay current without regenerating them.
var completionScripts = map[string]string{
	"bash": `# dagster-dev completion for bash: source <(dagster-dev completion bash)
_dagster_dev_complete() {
  local cur="${COMP_WORDS[COMP_CWORD]}" candidate
  COMPREPLY=()
  # Read the candidates as plain lines: compgen -W would expand them.
  while IFS= read -r candidate; do
    [[ $candidate == "$cur"* ]] && COMPREPLY+=("$candidate")
  done < <("${COMP_WORDS[0]}" "${COMP_WORDS[@]:1:COMP_CWORD-1}" "$cur" --generate-bash-completion 2>/dev/null)
}
complete -o default -F _dagster_dev_complete dagster-dev
`,
	"zsh": `#compdef dagster-dev
# dagster-dev completion for zsh: source <(dagster-dev completion zsh)
_dagster_dev_complete() {
  local -a candidates
  candidates=("${(@f)$("${words[1]}" "${(@)words[2,CURRENT-1]}" "${words[CURRENT]}" --generate-bash-completion 2>/dev/null)}")
  candidates=("${(@)candidates%%:*}")
  compadd -a candidates
}
compdef _dagster_dev_complete dagster-dev
`,
	"fish": `# dagster-dev completion for fish: dagster-dev completion fish | source
function __dagster_dev_complete
    set -l words (commandline -opc)
    $words[1] $words[2..-1] (commandline -ct) --generate-bash-completion 2>/dev/null
end
complete -c dagster-dev -f -a '(__dagster_dev_complete)'
`,
}

func completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print the shell completion script for bash, zsh or fish",
		ArgsUsage: "SHELL",
		Description: `Completes commands, flags, logs' components and your code locations' names.
  bash: source <(dagster-dev completion bash)       (or save it in /etc/bash_completion.d/)
  zsh:  source <(dagster-dev completion zsh)        (or save it as _dagster-dev on $fpath)
  fish: dagster-dev completion fish | source        (or save it in ~/.config/fish/completions/)`,
		BashComplete: func(c *cli.Context) {
			for _, sh := range []string{"bash", "zsh", "fish"} {
				fmt.Fprintln(c.App.Writer, sh)
			}
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return withCode(exitUsage, fmt.Errorf("completion takes one SHELL: bash, zsh or fish"))
			}
			script, ok := completionScripts[c.Args().First()]
			if !ok {
				return withCode(exitUsage, fmt.Errorf("no completion for shell %q: use bash, zsh or fish", c.Args().First()))
			}
			_, err := fmt.Fprint(c.App.Writer, script)
			return err
		},
	}
}

// completionFlag is urfave/cli's request for candidates.
const completionFlag = "--generate-bash-completion"

// unsafeCompletion reports a completion request urfave/cli would not
// answer but run as a command: after "--" it disables completion and the
// command's action runs, so completing `dagster-dev down -- <TAB>` would
// remove the environment.
func unsafeCompletion(args []string) bool {
	if len(args) < 2 || args[len(args)-1] != completionFlag {
		return false
	}
	for _, a := range args[:len(args)-2] {
		if a == "--" {
			return true
		}
	}
	return false
}

func isCompletion(args []string) bool {
	return len(args) > 0 && args[len(args)-1] == completionFlag
}

// completionArgs hides a word being completed that is exactly "--" from
// urfave/cli, which would take it for the end of the flags and run the
// command; its flag suggestions read the word from os.Args, so they still
// see it and offer every long flag.
func completionArgs(args []string) []string {
	n := len(args)
	if n < 2 || args[n-1] != completionFlag || args[n-2] != "--" {
		return args
	}
	out := append([]string(nil), args...)
	out[n-2] = "-"
	return out
}

// partialFlag reports whether the word being completed is a flag: urfave
// passes it just before --generate-bash-completion.
func partialFlag() bool {
	n := len(os.Args)
	return n >= 3 && strings.HasPrefix(os.Args[n-2], "-")
}
