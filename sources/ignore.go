package sources

import (
	"regexp"
	"strings"
)

// editorTemp matches the names editors create next to a file while saving
// it, so that their events neither trigger a sync nor become keys of a
// directory source. The list follows Tilt's (internal/ignore/ephemeral.go),
// plus the atomic-write temp names of VS Code and common libraries.
var editorTemp = []*regexp.Regexp{
	// Vim: swap files (.x.swp, .swo … .swa, .swx), the 4913 write probe.
	regexp.MustCompile(`^\..*\.sw[a-px]$`),
	regexp.MustCompile(`^4913$`),
	// Backups (Vim, Emacs, many others): file~
	regexp.MustCompile(`~$`),
	// JetBrains safe write: file___jb_tmp___, file___jb_old___
	regexp.MustCompile(`___jb_(tmp|old)___$`),
	// Emacs: #autosave#, .#lockfile, flymake copies.
	regexp.MustCompile(`^#.*#$`),
	regexp.MustCompile(`^\.#`),
	regexp.MustCompile(`_flymake(\.[^.]*)?$`),
	// Kate swap files.
	regexp.MustCompile(`\.kate-swp$`),
	// Atomic writers: file.tmp, file.tmp.1234, .file.tmp-abc (VS Code,
	// write-file-atomic, Go's renameio, Sublime), Go tool temp files.
	regexp.MustCompile(`\.tmp$`),
	regexp.MustCompile(`\.tmp[.-][^/]*$`),
	regexp.MustCompile(`-go-tmp-umask$`),
	// Desktop noise.
	regexp.MustCompile(`^\.DS_Store$`),
}

// IsEditorTemp reports whether a base file name is an editor's temporary
// or backup file.
func IsEditorTemp(name string) bool {
	if name == "" || strings.ContainsRune(name, '/') {
		return false
	}
	for _, re := range editorTemp {
		if re.MatchString(name) {
			return true
		}
	}
	return false
}
